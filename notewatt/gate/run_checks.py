"""A run checked by the gate: its figures (its roll-up row, for the absolute figures and quality, and its
partitions' Wh per 1,000 notes, which the regression test compares with the baseline's, so run-to-run noise is
judged on distributions rather than on one mean), read back from the Delta tables or handed over by the job,
against the criteria (notewatt/gate/criteria.py) with the checks of notewatt/gate/checks.py."""

from __future__ import annotations

import pandas as pd
from pyspark.sql import functions as F

from notewatt.config import ConfigError, GateConfig, resolve_path
from udfs.energy.vocabulary import wh_per_1000_notes
from notewatt.gate.checks import Check, check_against_baseline, check_targets
from notewatt.gate.criteria import GateCriteria, load_criteria
from notewatt.table_store import TableStore
from notewatt.tables import PARTITION_ENERGY, RUN_ROLLUP

RunFigures = tuple[dict, list[float]]  # the run_rollup row, and its partitions' Wh per 1,000 notes


def run_figures(store: TableStore, run_id: str) -> RunFigures:
    rollups = store.read(RUN_ROLLUP).where(F.col("run_id") == run_id).collect()
    if not rollups:
        raise ConfigError(f"run {run_id!r} has no row in {store.location(RUN_ROLLUP)}")
    partitions = store.read(PARTITION_ENERGY).where(F.col("run_id") == run_id).select("notes", "energy_j")
    return rollups[0].asDict(), partition_wh_per_1000_notes(partitions.toPandas())


def partition_wh_per_1000_notes(partitions: pd.DataFrame) -> list[float]:
    """Each partition's Wh per 1,000 notes (partitions with notes), from partition_energy rows."""
    with_notes = partitions[partitions["notes"] > 0]
    return [float(v) for v in wh_per_1000_notes(with_notes["energy_j"], with_notes["notes"])]


def check_run(
    store: TableStore, run_id: str, criteria: GateCriteria, baseline_run_id: str | None = None,
    figures: RunFigures | None = None,
) -> list[Check]:
    """The run's target checks, plus regression checks against the baseline run when one is given.
    `figures` (its roll-up row and partition figures) spares the job reading back what it has just written."""
    rollup, partitions = figures or run_figures(store, run_id)
    checks = check_targets(rollup, rollup, criteria.targets)
    if baseline_run_id:
        baseline, baseline_partitions = run_figures(store, baseline_run_id)
        if baseline["quality_mode"] != rollup["quality_mode"]:
            raise ConfigError(f"run {run_id} was scored against {rollup['quality_mode']} and the baseline against "
                              f"{baseline['quality_mode']}: their quality figures do not compare")
        checks += check_against_baseline(partitions, baseline_partitions, rollup, baseline, criteria.tolerances)
    return checks


def gate_job_run(store: TableStore, gate: GateConfig, run_id: str, figures: RunFigures) -> list[Check]:
    """A finished job's checks against `gate.targets_file` (and `gate.baseline_run_id`); none without targets."""
    if not gate.targets_file:
        return []
    return check_run(store, run_id, load_criteria(resolve_path(gate.targets_file)), gate.baseline_run_id, figures)
