"""Check a finished run against its targets and a baseline run, from the Delta tables it wrote.

The run's roll-up row gives the absolute figures (and its quality figures); its partition_energy rows
give the per-partition Wh per 1,000 notes that the regression test compares with the baseline's, so
run-to-run noise is judged on distributions rather than on one mean (notewatt/gate.py).
"""

from __future__ import annotations

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from notewatt.config import OutputConfig
from notewatt.gate import Check, GateConfig, check_against_baseline, check_targets
from notewatt.energy.vocabulary import wh_per_1000_notes
from notewatt.tables import PARTITION_ENERGY, RUN_ROLLUP, read_table


def run_figures(spark: SparkSession, output: OutputConfig, run_id: str) -> tuple[dict, list[float]]:
    """A run's roll-up row and its partitions' Wh per 1,000 notes."""
    rollups = read_table(spark, output, RUN_ROLLUP).where(F.col("run_id") == run_id).collect()
    if not rollups:
        raise ValueError(f"run {run_id!r} has no row in {RUN_ROLLUP}")
    partitions = read_table(spark, output, PARTITION_ENERGY).where(F.col("run_id") == run_id)
    return rollups[0].asDict(), partition_wh_per_1000_notes(partitions)


def partition_wh_per_1000_notes(partitions: DataFrame) -> list[float]:
    """Each partition's Wh per 1,000 notes (partitions with notes), from partition_energy rows."""
    rows = partitions.where(F.col("notes") > 0).select(
        wh_per_1000_notes(F.col("energy_j"), F.col("notes")).alias("wh_per_1000_notes")
    )
    return [r.wh_per_1000_notes for r in rows.collect()]


def check_run(
    spark: SparkSession, output: OutputConfig, run_id: str, gate: GateConfig, baseline_run_id: str | None = None,
    figures: tuple[dict, list[float]] | None = None,
) -> list[Check]:
    """The run's target checks, plus regression checks against the baseline run when one is given.
    `figures` (its roll-up row and partition figures) spares the job reading back what it has just written."""
    rollup, partitions = figures or run_figures(spark, output, run_id)
    checks = check_targets(rollup, rollup, gate.targets)
    if baseline_run_id:
        baseline, baseline_partitions = run_figures(spark, output, baseline_run_id)
        if baseline["quality_mode"] != rollup["quality_mode"]:
            raise ValueError(f"run {run_id} was scored against {rollup['quality_mode']} and the baseline against "
                             f"{baseline['quality_mode']}: their quality figures do not compare")
        checks += check_against_baseline(partitions, baseline_partitions, rollup, baseline, gate.tolerances)
    return checks


def baseline_from_mlflow(tracking_uri: str, mlflow_run_id: str | None, tag: str | None, experiment: str) -> str | None:
    """The NoteWatt run id of a baseline named by MLflow run id, or the latest run carrying tag `key=value`."""
    import mlflow

    client = mlflow.MlflowClient(tracking_uri=tracking_uri)
    if mlflow_run_id:
        return client.get_run(mlflow_run_id).data.tags["notewatt.run_id"]
    if not tag:
        return None
    key, _, value = tag.partition("=")
    found = mlflow.search_runs(
        experiment_names=[experiment], filter_string=f"tags.`{key}` = '{value}'", order_by=["start_time DESC"],
        max_results=1, output_format="list",
    )
    if not found:
        raise ValueError(f"no MLflow run in experiment {experiment!r} has tag {key}={value}")
    return found[0].data.tags["notewatt.run_id"]
