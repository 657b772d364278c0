"""What the gate checks a run against: absolute targets, and tolerances against a baseline run, read from a YAML
file (`gate.targets_file`, conf/targets.yaml in this project). The defaults here are the only ones."""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import Field

from notewatt.config import ConfigError, StrictModel


class Targets(StrictModel):
    """Absolute targets; null: not checked."""

    min_tokens_per_wh_p5: float | None = Field(None, description="run_rollup.tokens_per_wh_p5 (the partitions' p5 "
                                               "of output tokens per Wh: a floor under the worst) must be at least this")
    max_wh_per_1000_notes: float | None = Field(None, description="run_rollup.wh_per_1000_notes must be at most this")
    max_wh_per_1000_correct_items: float | None = Field(None, description="run_rollup.wh_per_1000_correct_items (energy "
                                                        "per correct answer; a scored run) must be at most this")
    min_f1_overall: float | None = Field(None, description="micro F1 over the abstraction fields (0-1)")
    min_json_valid_rate: float | None = Field(None, description="share of the run's notes with status ok")


class Tolerances(StrictModel):
    """How much worse than a baseline run a run may be (same corpus, same scoring mode)."""

    max_energy_regression: float = Field(0.10, ge=0, description="relative worsening of the median partition's Wh "
                                         "per 1,000 notes before the noise test applies")
    alpha: float = Field(0.05, gt=0, lt=1, description="one-sided Mann-Whitney U significance for 'the shift is "
                         "beyond noise'")
    max_f1_drop: float = Field(0.02, ge=0, description="f1_overall may drop by at most this (0-1 scale)")
    max_json_valid_rate_drop: float = Field(0.02, ge=0, description="json_valid_rate may drop by at most this")


class GateCriteria(StrictModel):
    targets: Targets = Field(default_factory=Targets)
    tolerances: Tolerances = Field(default_factory=Tolerances)


def load_criteria(path: str | Path) -> GateCriteria:
    """`targets:` and `tolerances:` from a YAML file such as conf/targets.yaml."""
    if not Path(path).is_file():
        raise ConfigError(f"targets file {str(path)!r} (gate.targets_file) does not exist")
    criteria = yaml.safe_load(Path(path).read_text()) or {}
    if "min_tokens_per_wh_p95" in (criteria.get("targets") or {}):
        raise ConfigError(f"{path}: targets.min_tokens_per_wh_p95 put the floor under the best partitions; a floor "
                          "belongs under the worst: use min_tokens_per_wh_p5")
    return GateCriteria.model_validate(criteria)
