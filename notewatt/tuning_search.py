"""One search of the energy tuner (jobs/tune_energy.py is its command line): the trials, each a notewatt.run on the
corpus's first `tuning.sample` notes scored against the first trial's floor, Optuna's study over them, and the
parent MLflow run with the trials table, the chart and the best settings as a profile (notewatt/tuning.py has the
parts: the space, the floor, the pruning, the profile).

Trials run in this driver one after another, so engines load once per engine spec (and once more after a pruned
trial); no trial's figures hold an engine load, and every trial starts on an empty prefix cache (a reused engine's
is reset), so trials compare alike. Settings that do not go together (a cascade whose small tier is the trial's
variant) prune that trial unrun.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import partial
from typing import Callable

import mlflow
import optuna

from notewatt.comparison import quality_column
from notewatt.config import ConfigError, JobConfig, resolve_path, with_overrides
from notewatt.corpus import read_notes
from notewatt.energy_frames import run_ledger
from notewatt.inference import INFERENCE_JOB_GROUP, InferenceCancelled
from notewatt.reporting.charts import pareto_chart
from notewatt.runner import RunResult, run
from notewatt.screening import screen_notes
from notewatt.tracking.experiment import use_experiment
from notewatt.tuning import (
    HIGHER_IS_BETTER, TRIAL_FIGURES, Floor, Parameter, PruningMonitor, TuningError, best_profile, best_trial,
    chart_rows, configured, search_space, trials_table,
)

TUNING_TAG = "notewatt.tuning"
log = logging.getLogger("notewatt.tuning")


class Search:
    """Runs the trials of one search: each a nested job run on the sample, scored against the first's floor."""

    def __init__(self, config: JobConfig, parameters: list[Parameter], tune_id: str, spark,
                 on_result: Callable[[RunResult], None]):
        self.config, self.parameters, self.tune_id, self.spark = config, parameters, tune_id, spark
        self.on_result = on_result  # each finished trial's run (the command line prints its summary)
        self.floor: Floor | None = None

    def trial(self, trial: optuna.Trial) -> float:
        settings = [p.override(trial.suggest_categorical(p.key, p.choices)) for p in self.parameters]
        run_id = f"{self.tune_id}-t{trial.number:02d}"
        trial.set_user_attr("run_id", run_id)
        try:
            config = with_overrides(self.config, [*settings, *(self.floor.overrides() if self.floor else []),
                                                  f"corpus.limit={self.config.tuning.sample}", "cache.enabled=false",
                                                  f"run_id={run_id}"])
        except ConfigError as exc:  # settings that do not go together, e.g. a cascade whose small tier is the variant
            log.info("trial %d not run: %s", trial.number, exc)
            raise optuna.TrialPruned() from None
        self.spark.catalog.clearCache()  # what an earlier (pruned) trial left persisted
        ledger = run_ledger(self.config, run_id)
        cancel = partial(self.spark.sparkContext.cancelJobGroup, INFERENCE_JOB_GROUP)
        with PruningMonitor(trial, ledger, self.config.tuning.objective, cancel):
            try:
                result = run(config, self.spark)
            except InferenceCancelled:
                raise optuna.TrialPruned() from None
        self.on_result(result)
        rollup = result.rollup
        self.floor = self.floor or Floor.from_first_trial(rollup, self.config)
        trial.set_user_attr("figures", {k: rollup.get(k) for k in TRIAL_FIGURES})
        trial.set_user_attr("quality", self.floor.quality_of(rollup))
        for name, value in self.floor.constraints(rollup).items():
            trial.set_constraint(name, value)
        return rollup[self.config.tuning.objective]


def check_sample(spark, config: JobConfig) -> None:
    """Before any trial: the sample has notes that screening lets through to the model."""
    notes = read_notes(spark, resolve_path(config.corpus.path), config.corpus.format).limit(config.tuning.sample)
    if screen_notes(notes, "tuning-check").counts().clean == 0:
        raise TuningError(f"the sample is empty: the first {config.tuning.sample} records of {config.corpus.path!r} "
                          "have no note to abstract (tuning.sample, corpus.path)")


def log_search(study: optuna.Study, config: JobConfig, tune_id: str) -> tuple[str, optuna.trial.FrozenTrial]:
    """Log the trials, the chart and the best profile to the parent run; the profile and the best trial."""
    objective = config.tuning.objective
    table = trials_table(study)
    mlflow.log_text(table.to_csv(index=False), "tuning/trials.csv")
    chart = chart_rows(table)
    if len(chart):
        mlflow.log_figure(pareto_chart(chart, quality_column(chart), "Trials"), "tuning/pareto.png")
    best = best_trial(study, objective)
    if best is None:
        raise TuningError(f"no trial met the quality floor (tuning.quality_margin {config.tuning.quality_margin:g}"
                          f", tuning.min_quality {config.tuning.min_quality}); the trials' runs are kept under {tune_id}")
    first = study.trials[0]
    higher = HIGHER_IS_BETTER[objective]
    gain = (best.value / first.value if higher else first.value / best.value) if first.value and best.value else float("nan")
    mlflow.log_metrics({f"best.{objective}": best.value, f"configured.{objective}": first.value, "gain": gain})
    header = (f"Tuned by jobs/tune_energy.py, search {tune_id} ({datetime.now(timezone.utc):%Y-%m-%d}): trial "
              f"{best.number}, {objective} {best.value:.4g} against {first.value:.4g} as configured "
              f"({gain:.2f}x), {best.user_attrs['figures']['energy_status']} energy; quality {best.user_attrs['quality']:.3f}."
              f"\nUse it with --config over the profile the search ran with.")
    profile = best_profile(best, header)
    mlflow.log_text(profile, "tuning/best_profile.yaml")
    return profile, best


@dataclass(frozen=True)
class SearchResult:
    tune_id: str
    study: optuna.Study
    best: optuna.trial.FrozenTrial
    profile: str  # the best trial's settings as a profile for --config


def search(config: JobConfig, trials: int, spark, on_result: Callable[[RunResult], None] = lambda _: None
           ) -> SearchResult:
    """Search `trials` trials (the first runs the settings as configured) under one parent MLflow run; a TuningError
    (one line) when the sample has no note or no trial meets the floor."""
    parameters = search_space(config)  # an unknown setting or value fails here, before any trial runs
    tune_id = f"tune-{datetime.now(timezone.utc):%Y%m%d-%H%M%S}-{uuid.uuid4().hex[:6]}"
    check_sample(spark, config)
    use_experiment(config.mlflow)
    direction = "maximize" if HIGHER_IS_BETTER[config.tuning.objective] else "minimize"
    study = optuna.create_study(
        direction=direction, study_name=tune_id,
        sampler=optuna.samplers.TPESampler(seed=config.tuning.seed),  # with the trials' set_constraint values
        pruner=optuna.pruners.PercentilePruner(25.0, n_startup_trials=3),
    )
    study.enqueue_trial(configured(parameters))  # the settings as configured: the first trial and the floor
    with mlflow.start_run(run_name=tune_id, tags={TUNING_TAG: tune_id}):
        mlflow.log_params({"trials": trials, "sample": config.tuning.sample, "objective": config.tuning.objective,
                           "quality_margin": config.tuning.quality_margin,
                           **{f"space.{p.key}": ",".join(p.choices) for p in parameters}})
        study.optimize(Search(config, parameters, tune_id, spark, on_result).trial, n_trials=trials)
        profile, best = log_search(study, config, tune_id)
    return SearchResult(tune_id, study, best, profile)
