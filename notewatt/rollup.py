"""Partition energy windows + note outputs -> per-note energy shares and the run's roll-up row."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

J_PER_WH = 3600.0


@dataclass(frozen=True)
class RunInfo:
    run_id: str
    variant: str
    model: str
    started_at: datetime
    duration_s: float  # driver wall time of the inference stage, engine loads included


def _tokens(frame: DataFrame) -> Column:
    return frame["prompt_tokens"] + frame["output_tokens"]


def with_note_energy(notes: DataFrame, partitions: DataFrame) -> DataFrame:
    """Each note's share of its partition's energy, by its tokens (prompt + output); by count if no tokens."""
    shares = partitions.select(
        "partition_id",
        F.col("energy_j").alias("partition_energy_j"),
        _tokens(partitions).alias("partition_tokens"),
        F.col("notes").alias("partition_notes"),
        F.col("energy_source"),
    )
    joined = notes.drop("energy_j", "energy_source").join(shares, "partition_id", "left")
    share = F.when(
        F.col("partition_tokens") > 0, F.col("partition_energy_j") * _tokens(joined) / F.col("partition_tokens")
    ).otherwise(F.col("partition_energy_j") / F.col("partition_notes"))
    return joined.withColumn("energy_j", share).drop("partition_energy_j", "partition_tokens", "partition_notes")


def run_rollup(notes: DataFrame, partitions: DataFrame, engine_loads: DataFrame, run: RunInfo) -> DataFrame:
    """One row: the run's totals, Wh per 1,000 notes, tokens per joule and the partition spread of tokens per Wh."""
    per_partition = partitions.select(
        "energy_j",
        "energy_source",
        "start_ts",
        "end_ts",
        (F.col("output_tokens") / (F.col("energy_j") / J_PER_WH)).alias("tokens_per_wh"),
    )
    energy = per_partition.agg(
        F.sum("energy_j").alias("energy_j"),
        F.percentile("tokens_per_wh", 0.5).alias("tokens_per_wh_p50"),
        F.percentile("tokens_per_wh", 0.95).alias("tokens_per_wh_p95"),
        F.bool_and(~F.col("energy_source").contains("estimate")).alias("energy_measured"),
        F.array_join(F.array_sort(F.collect_set("energy_source")), ",").alias("energy_sources"),
        (F.max("end_ts") - F.min("start_ts")).alias("inference_s"),
        F.count(F.lit(1)).alias("partitions"),
    )
    counts = notes.agg(
        F.count(F.lit(1)).alias("notes"),
        F.sum(F.when(F.col("status") == "ok", 1).otherwise(0)).alias("notes_ok"),
        F.sum("prompt_tokens").alias("prompt_tokens"),
        F.sum("output_tokens").alias("output_tokens"),
    )
    loads = engine_loads.agg((F.coalesce(F.sum("energy_j"), F.lit(0.0)) / J_PER_WH).alias("engine_load_wh"))
    row = counts.crossJoin(energy).crossJoin(loads)
    energy_wh = F.col("energy_j") / J_PER_WH
    return row.select(
        F.lit(run.run_id).alias("run_id"),
        F.lit(run.variant).alias("variant"),
        F.lit(run.model).alias("model"),
        F.lit(run.started_at).cast("timestamp").alias("started_at"),
        "notes",
        "notes_ok",
        "prompt_tokens",
        "output_tokens",
        energy_wh.alias("energy_wh"),
        (energy_wh / F.col("notes") * 1000).alias("wh_per_1000_notes"),
        (F.col("output_tokens") / F.col("energy_j")).alias("output_tokens_per_joule"),
        ((F.col("prompt_tokens") + F.col("output_tokens")) / F.col("energy_j")).alias("total_tokens_per_joule"),
        "tokens_per_wh_p50",
        "tokens_per_wh_p95",
        F.lit(run.duration_s).alias("duration_s"),
        (F.col("notes") / F.lit(run.duration_s)).alias("notes_per_s"),
        "energy_measured",
        "energy_sources",
        "engine_load_wh",
        "inference_s",
        "partitions",
    )
