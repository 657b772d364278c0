"""The product's Delta tables, declared once: each table's name, its columns with their types, and the key its
rows are replaced by. Column names are part of the product: a change here is the only way a column is added,
and the table store (notewatt/table_store.py) adds it to an existing table explicitly; a frame that lacks a
declared column fails its write. The executors' note rows (udfs/abstract_partition.OUTPUT_SCHEMA) are committed
as each slice of inference ends (inference_outputs, notewatt/commits.py), and the run's tables are built from them;
the energy tables are built from the energy ledger (notewatt/energy_frames.py).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import cached_property

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import (
    BooleanType, DoubleType, IntegerType, LongType, NumericType, StringType, StructField, StructType, TimestampType,
)

from notewatt.stages import STAGE_COLUMNS
from udfs.abstract_partition import OUTPUT_SCHEMA

_TYPES = {"string": StringType(), "int": IntegerType(), "bigint": LongType(), "long": LongType(), "double": DoubleType(),
          "boolean": BooleanType(), "timestamp": TimestampType()}


class SchemaError(ValueError):
    """A frame or an existing table does not fit a table's declared columns."""


@dataclass(frozen=True)
class Table:
    name: str
    ddl: str  # the columns in order: "name type, ..."
    key: str = "run_id"  # a run's (or a comparison's, or a cached output's) rows are keyed by this column

    @cached_property
    def schema(self) -> StructType:
        """The columns as a Spark schema (flat columns of the simple types in _TYPES; no Spark session needed)."""
        columns = (column.split() for column in self.ddl.split(","))
        return StructType([StructField(name, _TYPES[kind]) for name, kind in columns])

    def frame(self, spark: SparkSession, rows: list[dict]) -> DataFrame:
        """Rows built on the driver (dicts; a missing key is null) as a frame in the table's columns, timestamps
        still unix seconds (conform() converts them as the store writes)."""
        schema = StructType([StructField(f.name, DoubleType() if isinstance(f.dataType, TimestampType) else f.dataType)
                             for f in self.schema.fields])
        return spark.createDataFrame([tuple(row.get(name) for name in self.columns) for row in rows], schema)

    @property
    def columns(self) -> tuple[str, ...]:
        return tuple(self.schema.fieldNames())

    def named(self, name: str) -> Table:
        """The same table under another name (the output cache's name is configurable)."""
        return replace(self, name=name)

    def conform(self, frame: DataFrame) -> DataFrame:
        """The frame's declared columns, in order and cast to their types (unix seconds to timestamps); a
        declared column the frame lacks is an error, columns it does not declare are left out."""
        missing = [c for c in self.columns if c not in frame.columns]
        if missing:
            raise SchemaError(f"{self.name}: the frame lacks declared column(s) {missing}")
        return frame.select(*[_as(frame, field.name, field.dataType) for field in self.schema.fields])


def _as(frame: DataFrame, name: str, kind) -> Column:
    if isinstance(kind, TimestampType) and isinstance(frame.schema[name].dataType, NumericType):
        return F.timestamp_seconds(name).alias(name)
    return F.col(name).cast(kind).alias(name)


_WINDOW_ENERGY = (
    "energy_source string, start_ts timestamp, end_ts timestamp, duration_s double, energy_j double, "
    "device_reading_j double, energy_above_idle_j double, above_idle_available boolean, avg_power_w double, "
    "peak_power_w double, idle_power_w double, samples int, sample_interval_s double, partial boolean, "
    "partial_reason string, shared_device boolean, overlap_s double"
)
_WINDOW_SPLIT = "gpu_energy_j double, host_energy_j double, measured_share double"  # energy_j = gpu + host
_STAGE_TIMES = ", ".join(f"{column} double" for column in STAGE_COLUMNS)  # where the run's time went

NOTE_ABSTRACTIONS = Table("note_abstractions", (
    "run_id string, note_id string, partition_id int, task_attempt int, variant string, model string, "
    "status string, abstraction string, prompt_tokens bigint, output_tokens bigint, finish_reason string, "
    "energy_j double, energy_source string, note_type string, detail string, input_truncated boolean, "
    "input_flags string, cached_prompt_tokens bigint, chunks int, sections_dropped int, cache_hit boolean, "
    "reused_output_tokens bigint, dtype string, mean_logprob double, escalated boolean, escalation_reason string"
))
PARTITION_ENERGY = Table("partition_energy", (
    "run_id string, partition_id int, task_attempt int, window_id string, host string, executor_id string, "
    "pid int, device string, device_name string, notes bigint, prompt_tokens bigint, output_tokens bigint, "
    f"cached_prompt_tokens bigint, {_WINDOW_ENERGY}, {_WINDOW_SPLIT}, variant string, model string, dtype string, "
    "engine_state string"
))
ENGINE_LOADS = Table("engine_loads", (
    "run_id string, window_id string, host string, executor_id string, pid int, variant string, model string, "
    f"device string, device_name string, {_WINDOW_ENERGY}, {_WINDOW_SPLIT}, dtype string"
))
DEVICE_ENERGY = Table("device_energy", (
    "run_id string, window string, window_id string, partition_id int, task_attempt int, host string, "
    "executor_id string, pid int, device string, device_name string, component string, scope string, "
    f"prompt_tokens bigint, output_tokens bigint, {_WINDOW_ENERGY}, variant string, model string"
))
QUARANTINE = Table("quarantine", (
    "run_id string, note_id string, reason string, description string, source_file string, text_chars int"
))
NOTE_SCORES = Table("note_scores", (
    "run_id string, mode string, note_id string, status string, prediction_parsed boolean, field string, "
    "tp bigint, fp bigint, fn bigint, precision double, recall double, f1 double, exact_match boolean"
))
RUN_ROLLUP = Table("run_rollup", (
    "run_id string, variant string, model string, started_at timestamp, notes bigint, notes_ok bigint, "
    "prompt_tokens bigint, output_tokens bigint, notes_reused bigint, cache_hit_rate double, "
    "energy_avoided_wh double, cached_prompt_tokens bigint, prefix_cache_hit_rate double, energy_wh double, "
    "gpu_energy_wh double, host_energy_wh double, measured_share double, energy_above_idle_wh double, "
    "wh_per_1000_notes double, retry_energy_j double, retry_windows bigint, retry_unfinished_windows bigint, "
    "retry_energy_status string, wh_per_1000_notes_incl_retries double, wh_per_1000_notes_all_in double, "
    "preprocess_s double, preprocess_energy_j double, "
    "output_tokens_per_joule double, total_tokens_per_joule double, tokens_per_wh_p5 double, tokens_per_wh_p50 double, "
    "tokens_per_wh_p95 double, duration_s double, notes_per_s double, energy_status string, energy_sources string, "
    "energy_status_reason string, "
    "engine_load_wh double, engine_load_s double, engine_load_status string, unreported_warm_ups bigint, "
    "engine_load_unfinished_windows bigint, inference_s double, partitions bigint, partial_partitions bigint, "
    "shared_device_partitions bigint, facility_wh_per_1000_notes double, gco2e_per_1000_notes double, "
    "cost_per_1000_notes double, pue double, carbon_intensity_g_per_kwh double, carbon_intensity_source string, "
    "price_per_kwh double, currency string, quality_mode string, f1_overall double, json_valid_rate double, "
    f"notes_in int, notes_quarantined int, {_STAGE_TIMES}, dtype string, routing_mode string, escalated_notes bigint, "
    "escalation_rate double, correct_items bigint, wh_per_1000_correct_items double, notes_resumed bigint"
))
ROUTE_ROLLUP = Table("route_rollup", (
    "run_id string, variant string, notes bigint, notes_ok bigint, notes_reused bigint, prompt_tokens bigint, "
    "output_tokens bigint, energy_wh double, wh_per_1000_notes double, output_tokens_per_joule double, "
    "energy_status string, measured_share double, f1_overall double, dtype string, escalated_notes bigint, "
    "escalation_rate double"
))
VARIANT_COMPARISONS = Table("variant_comparisons", (
    "comparison_id string, variant string, dtype string, run_id string, wh_per_1000_notes double, output_tokens_per_joule double, "
    "notes_per_s double, f1_overall double, json_valid_rate double, wh_per_1000_correct_items double, "
    "energy_status string, notes bigint, on_front boolean"
), key="comparison_id")
OUTPUT_CACHE = Table("output_cache", (  # not per run: one row per cache key, added by MERGE; no note text
    "cache_key string, variant string, model string, status string, abstraction string, finish_reason string, "
    "output_tokens bigint, run_id string, note_id string"
), key="cache_key")

INFERENCE_OUTPUTS = Table(  # the engine's note rows as each slice of inference commits them (appended, never replaced)
    "inference_outputs", f"{' '.join(OUTPUT_SCHEMA.split())}, job_attempt bigint, slice int")
RUN_STATUS = Table("run_status", (  # one row per run id: running, failed or complete (notewatt/run_state.py)
    "run_id string, status string, variants string, routing string, corpus string, prompt_version string, "
    "job_attempt bigint, attempts int, attempt_started_at timestamp, updated_at timestamp, notes_resumed bigint, "
    "error string"
))

RUN_TABLES = (NOTE_ABSTRACTIONS, PARTITION_ENERGY, DEVICE_ENERGY, ENGINE_LOADS, QUARANTINE, RUN_ROLLUP, ROUTE_ROLLUP,
              NOTE_SCORES)
TABLES = {table.name: table for table in (*RUN_TABLES, VARIANT_COMPARISONS, OUTPUT_CACHE, INFERENCE_OUTPUTS, RUN_STATUS)}
