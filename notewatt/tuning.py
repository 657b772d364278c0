"""The energy tuner's parts (notewatt/tuning_search.py runs them; jobs/tune_energy.py is its command line): the
search space, each trial's settings and quality constraints, the pruning of a trial that is clearly worse after its
first partition, and the report (the trials, their energy against quality with the Pareto front, and the best
settings as a profile).

The search is Optuna's: TPE sampling with constraints (Trial.set_constraint: a trial is feasible when its F1, or its agreement with the
first trial where the notes have no gold, is at most `tuning.quality_margin` below the first trial's, and its
valid-JSON rate is not lower) and a percentile pruner fed by the energy ledger's closed partition windows. The
first trial runs the settings as configured, so the comparison is made within one search.
"""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import dataclass

import optuna
import pandas as pd
import yaml

from notewatt.comparison import comparison_table
from notewatt.config import ConfigError, JobConfig, deep_merge, parse_override
from udfs.energy.vocabulary import wh_per_1000_notes
from udfs.energy.ledger import CLOSED, PARTITION, LedgerEntry, read_entries

log = logging.getLogger("notewatt.tuning")
HIGHER_IS_BETTER = {"output_tokens_per_joule": True, "wh_per_1000_notes": False}
TRIAL_FIGURES = ("wh_per_1000_notes", "output_tokens_per_joule", "notes_per_s", "f1_overall", "json_valid_rate",
                 "energy_status", "quality_mode", "notes", "notes_ok", "duration_s")


class TuningError(ConfigError):
    """The search cannot go on or has no answer (an empty sample, no trial meeting the floor): one line."""


@dataclass(frozen=True)
class Parameter:
    key: str  # a job setting, e.g. engine.batch_size
    choices: tuple[str, ...]  # its values as JSON, the configured one first

    def override(self, choice: str) -> str:
        return f"{self.key}={choice}"


def setting_value(config: JobConfig, key: str):
    """The configured value of a setting (`a.b.c`); a key that is no setting is a ConfigError naming it."""
    node = config.model_dump(mode="json")
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            raise ConfigError(f"tuning.space: {key!r} is not a setting (docs/configuration.md lists them)")
        node = node[part]
    return node


def search_space(config: JobConfig) -> list[Parameter]:
    """The settings to search, each with the configured value first, every value checked as a valid setting."""
    space = dict(config.tuning.space) | ({"variant": config.tuning.variants} if config.tuning.variants else {})
    if config.tuning.cascades:
        space["routing"] = [{"mode": "cascade", "small_variant": small} for small in config.tuning.cascades]
    parameters = []
    for key, values in space.items():
        current = setting_value(config, key)
        choices = [current, *[v for v in values if v != current]]
        for value in choices:  # pydantic's error (or an unknown variant's) names the setting and the value
            tried = JobConfig.model_validate(deep_merge(config.model_dump(), parse_override(f"{key}={json.dumps(value)}")))
            [tried.variant_config(v) for v in tried.variants_in_use]
        parameters.append(Parameter(key, tuple(json.dumps(v) for v in choices)))
    return parameters


def configured(parameters: list[Parameter]) -> dict[str, str]:
    """The first trial's parameters: the settings as configured."""
    return {p.key: p.choices[0] for p in parameters}


@dataclass(frozen=True)
class Floor:
    """What a trial must meet, set by the first trial: its quality less the margin, and its valid-JSON rate."""

    quality_mode: str  # "gold", or "reference": agreement with the first trial's outputs
    min_quality: float
    min_json_valid_rate: float
    reference_run_id: str | None = None

    @classmethod
    def from_first_trial(cls, rollup: dict, config: JobConfig) -> Floor:
        tuning, valid = config.tuning, rollup["json_valid_rate"] or 0.0
        if rollup["quality_mode"] == "gold" and rollup["f1_overall"] is not None:
            quality, mode, reference = rollup["f1_overall"], "gold", None
        else:  # no gold for these notes: agreement with the first trial (1.0 with itself)
            quality, mode, reference = 1.0, "reference", rollup["run_id"]
        return cls(mode, max(quality - tuning.quality_margin, tuning.min_quality or 0.0), valid, reference)

    def overrides(self) -> list[str]:
        """What scores a later trial against this floor's reference."""
        if self.reference_run_id is None:
            return []
        return [f"quality.reference_run_id={self.reference_run_id}", "quality.gold_path=null"]

    def quality_of(self, rollup: dict) -> float | None:
        """A trial's quality figure; the first trial agrees with itself in reference mode."""
        if self.reference_run_id == rollup["run_id"]:
            return 1.0
        return rollup["f1_overall"]

    def constraints(self, rollup: dict) -> dict[str, float]:
        """Optuna's constraint values (Trial.set_constraint): <= 0 where met."""
        quality = self.quality_of(rollup)
        return {"quality": 1.0 if quality is None else self.min_quality - quality,
                "json_valid_rate": self.min_json_valid_rate - (rollup["json_valid_rate"] or 0.0)}


def feasible(trial: optuna.trial.FrozenTrial) -> bool:
    """The trial met the floor (a trial that did not finish has no constraint values, and did not)."""
    return bool(trial.constraints) and all(value <= 0 for value in trial.constraints.values())


class PruningMonitor:
    """While a trial's job runs, reports its objective over the partitions that have closed (from the energy
    ledger's entries) as intermediate values; when Optuna's pruner says so, cancels the job's inference stage
    (`cancel`: its Spark job group, so a job already past inference is not cut short)."""

    def __init__(self, trial: optuna.Trial, ledger: str, objective: str, cancel, poll_s: float = 2.0):
        self.trial, self.ledger, self.objective, self.cancel, self.poll_s = trial, ledger, objective, cancel, poll_s
        self.pruned = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="tuning-pruner", daemon=True)

    def __enter__(self) -> PruningMonitor:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def _watch(self) -> None:
        reported = 0
        while not self._stop.wait(self.poll_s):
            try:
                entries = read_entries(self.ledger, recursive=True)
            except Exception as exc:  # a ledger read that fails now may work at the next poll
                log.warning("pruning: the energy ledger could not be read (%s)", type(exc).__name__)
                continue
            closed = [e for e in entries if e.window == PARTITION and e.state == CLOSED]
            if len(closed) <= reported:
                continue
            reported = len(closed)
            self.trial.report(objective_of(closed, self.objective), step=reported)
            if self.trial.should_prune():
                self.pruned = True
                self.cancel()
                return


def objective_of(windows: list[LedgerEntry], objective: str) -> float:
    """The objective over closed partition windows (their own readings, as the ledger has them)."""
    energy = sum(w.measurement.energy_j for w in windows)
    if objective == "output_tokens_per_joule":
        return sum(w.output_tokens for w in windows) / energy if energy else 0.0
    return wh_per_1000_notes(energy, max(sum(w.notes for w in windows), 1))


def trials_table(study: optuna.Study) -> pd.DataFrame:
    """One row per trial: its state, settings, figures and whether it met the floor."""
    rows = []
    for t in study.trials:
        figures = t.user_attrs.get("figures", {})
        rows.append({"trial": t.number, "state": t.state.name, "run_id": t.user_attrs.get("run_id"),
                     "feasible": feasible(t),
                     **{k: figures.get(k) for k in TRIAL_FIGURES},
                     "quality": t.user_attrs.get("quality"), **{f"param.{k}": v for k, v in t.params.items()}})
    return pd.DataFrame(rows)


def chart_rows(trials: pd.DataFrame) -> pd.DataFrame:
    """The complete trials as comparison rows named tNN, with the Pareto front drawn over the feasible ones only:
    a trial below the quality floor is shown, named so, and never on the front."""
    done = trials[trials["state"] == "COMPLETE"]
    feasible = comparison_table([_named(r) for r in done[done["feasible"]].to_dict("records")])
    below = comparison_table([_named(r, " (below floor)") for r in done[~done["feasible"]].to_dict("records")])
    frames = [t for t in (feasible, below.assign(on_front=False)) if len(t)]
    return pd.concat(frames, ignore_index=True) if frames else feasible


def _named(trial: dict, suffix: str = "") -> dict:
    return trial | {"variant": f"t{trial['trial']:02d}{suffix}"}


def best_trial(study: optuna.Study, objective: str) -> optuna.trial.FrozenTrial | None:
    """The best complete trial that met the floor, or None."""
    candidates = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE and feasible(t)
                  and t.value is not None]
    if not candidates:
        return None
    return (max if HIGHER_IS_BETTER[objective] else min)(candidates, key=lambda t: t.value)


def best_profile(trial: optuna.trial.FrozenTrial, header: str) -> str:
    """The trial's settings as a YAML profile that --config accepts."""
    settings: dict = {}
    for key, choice in trial.params.items():
        settings = deep_merge(settings, parse_override(f"{key}={choice}"))
    lines = [f"# {line}" for line in header.splitlines()]
    return "\n".join([*lines, yaml.safe_dump(settings, sort_keys=True)])
