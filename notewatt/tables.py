"""The product's Delta tables: where they live, and idempotent per-run writes."""

from __future__ import annotations

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from notewatt.config import OutputConfig, resolve_path

NOTE_ABSTRACTIONS = "note_abstractions"
PARTITION_ENERGY = "partition_energy"
ENGINE_LOADS = "engine_loads"
DEVICE_ENERGY = "device_energy"
NOTE_SCORES = "note_scores"
QUARANTINE = "quarantine"
VARIANT_COMPARISONS = "variant_comparisons"
RUN_ROLLUP = "run_rollup"
ROUTE_ROLLUP = "route_rollup"


def table_location(output: OutputConfig, name: str) -> str:
    """A catalog table name (`schema.name`) when configured, else a path under the output folder."""
    if output.uses_catalog:
        return f"{output.catalog_schema}.{name}"
    return f"{resolve_path(output.path).rstrip('/')}/{name}"


def table_exists(spark: SparkSession, output: OutputConfig, location: str) -> bool:
    from delta.tables import DeltaTable

    if output.uses_catalog:
        return spark.catalog.tableExists(location)
    return DeltaTable.isDeltaTable(spark, location)


def write_run_rows(
    spark: SparkSession, frame: DataFrame, output: OutputConfig, name: str, run_id: str, attempt: int,
    key: str = "run_id",
) -> int:
    """Write one run's rows, replacing any rows an earlier attempt of the same run_id left; returns the table
    version. The write is idempotent per (run, table, attempt): Delta skips a repeat of the same
    txnAppId/txnVersion, while a later attempt (a larger `attempt`, e.g. the job's start time) replaces."""
    location = table_location(output, name)
    writer = (
        frame.write.format("delta")
        .option("mergeSchema", "true")
        .option("txnAppId", f"notewatt:{run_id}:{name}")
        .option("txnVersion", attempt)
    )
    if table_exists(spark, output, location):
        writer = writer.mode("overwrite").option("replaceWhere", f"{key} = '{run_id}'")
    else:
        writer = writer.mode("append")
    if output.uses_catalog:
        writer.saveAsTable(location)
    else:
        writer.save(location)
    return table_version(spark, output, location)


def table_version(spark: SparkSession, output: OutputConfig, location: str) -> int:
    from delta.tables import DeltaTable

    table = DeltaTable.forName(spark, location) if output.uses_catalog else DeltaTable.forPath(spark, location)
    return int(table.history(1).select("version").first()[0])


def read_table(spark: SparkSession, output: OutputConfig, name: str) -> DataFrame:
    location = table_location(output, name)
    return spark.read.table(location) if output.uses_catalog else spark.read.format("delta").load(location)


WINDOW_ENERGY = (
    "energy_source", "start_ts", "end_ts", "duration_s", "energy_j", "device_reading_j", "energy_above_idle_j",
    "above_idle_available", "avg_power_w", "peak_power_w", "idle_power_w", "samples", "sample_interval_s",
    "partial", "partial_reason", "shared_device", "overlap_s",
)
WINDOW_SPLIT = ("gpu_energy_j", "host_energy_j", "measured_share")  # a window's energy_j = gpu + host
COLUMNS = {
    NOTE_ABSTRACTIONS: (
        "run_id", "note_id", "partition_id", "task_attempt", "variant", "model", "status", "abstraction",
        "prompt_tokens", "output_tokens", "finish_reason", "energy_j", "energy_source",
        "note_type", "detail", "input_truncated", "input_flags", "cached_prompt_tokens", "chunks", "sections_dropped",
        "cache_hit", "reused_output_tokens",
    ),
    PARTITION_ENERGY: (
        "run_id", "partition_id", "task_attempt", "window_id", "host", "executor_id", "pid", "device", "device_name",
        "notes", "prompt_tokens", "output_tokens", "cached_prompt_tokens", *WINDOW_ENERGY, *WINDOW_SPLIT,
        "variant", "model",
    ),
    ENGINE_LOADS: (
        "run_id", "window_id", "host", "executor_id", "pid", "variant", "model", "device", "device_name",
        *WINDOW_ENERGY, *WINDOW_SPLIT,
    ),
    DEVICE_ENERGY: (
        "run_id", "window", "window_id", "partition_id", "task_attempt", "host", "executor_id", "pid",
        "device", "device_name", "component", "scope", "prompt_tokens", "output_tokens", *WINDOW_ENERGY,
        "variant", "model",
    ),
}


def contract_frame(frame: DataFrame, name: str) -> DataFrame:
    """The table's contract columns in order, with unix-second timestamps as Spark timestamps."""
    return frame.select(
        *[F.timestamp_seconds(c).alias(c) if c in ("start_ts", "end_ts") else F.col(c) for c in COLUMNS[name]]
    )
