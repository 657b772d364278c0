"""Partition energy windows + note outputs -> per-note energy shares, the run's roll-up row and one row per
route (Spark aggregations; the pipeline adds the quality figures and the input counts). What the figures are
(their energy status and its reason) comes from the run's ledger account (udfs/energy/accounting.py)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from notewatt.impact import ImpactFactors
from udfs.energy.accounting import RunEnergy, window_status
from udfs.energy.vocabulary import J_PER_WH, wh, wh_per_1000_notes


@dataclass(frozen=True)
class RunInfo:
    run_id: str
    variant: str
    model: str
    started_at: datetime
    duration_s: float  # driver wall time of the inference stage, engine loads included
    impact: ImpactFactors
    energy: RunEnergy = RunEnergy()  # the ledger's account: kept windows, engine loads, discarded attempts
    preprocess_s: float | None = None  # the Spark NLP stage's wall time (None: no such stage)
    preprocess_energy_j: float | None = None  # its estimated energy (Spark's executor CPU time x watts per core)
    notes_resumed: int = 0  # notes that earlier job attempts of the run committed (notewatt/commits.py)


def _tokens(frame: DataFrame) -> Column:
    return frame["prompt_tokens"] + frame["output_tokens"]


def with_note_energy(notes: DataFrame, partitions: DataFrame) -> DataFrame:
    """Each note's share of its partition's energy, by its tokens (prompt + output); by count if no tokens."""
    shares = partitions.select(
        "window_id",
        F.col("energy_j").alias("partition_energy_j"),
        _tokens(partitions).alias("partition_tokens"),
        F.col("notes").alias("partition_notes"),
        F.col("energy_source"),
    )
    joined = notes.drop("energy_j", "energy_source").join(shares, "window_id", "left")
    share = F.when(
        F.col("partition_tokens") > 0, F.col("partition_energy_j") * _tokens(joined) / F.col("partition_tokens")
    ).otherwise(F.try_divide(F.col("partition_energy_j"), F.col("partition_notes")))  # a window with no notes: null
    return joined.withColumn("energy_j", share).drop("partition_energy_j", "partition_tokens", "partition_notes")


def measured_share(partitions: DataFrame) -> Column:
    """The share of the windows' joules that was measured (NVML, RAPL) rather than estimated, 0 to 1."""
    return F.try_divide(F.sum(F.col("measured_share") * F.col("energy_j")), F.sum("energy_j"))


def _note_counts() -> list[Column]:
    return [
        F.count(F.lit(1)).alias("notes"),
        F.sum(F.when(F.col("status") == "ok", 1).otherwise(0)).alias("notes_ok"),
        F.sum("prompt_tokens").alias("prompt_tokens"),
        F.sum("output_tokens").alias("output_tokens"),
        F.sum(F.col("cache_hit").cast("int")).alias("notes_reused"),
        F.coalesce(F.sum("reused_output_tokens"), F.lit(0)).alias("reused_output_tokens"),
        F.sum("cached_prompt_tokens").alias("cached_prompt_tokens"),
        _dtypes(F.collect_set("dtype")).alias("dtype"),
        F.sum(F.col("escalation_reason").isNotNull().cast("long")).alias("escalated_notes"),  # on to the large tier
    ]


def _dtypes(found: Column) -> Column:
    """What the engines computed in ("bfloat16", or "bfloat16,float32" across unlike hosts); null when no note
    was generated (all reused)."""
    return F.when(F.size(found) > 0, F.array_join(F.array_sort(found), ","))


def labelled(row: dict, energy: RunEnergy, variant: str | None = None) -> dict:
    """A roll-up row (the run's, or a route's) with its energy labelled from the ledger's account: its
    energy_status, the energy_sources of its windows and, where the energy is not all there, why."""
    kept = [e for e in energy.partitions if variant is None or e.variant == variant]
    sources = sorted({source for e in kept for source in e.measurement.sources})
    return row | {"energy_status": energy.status(variant).name, "energy_sources": ",".join(sources)}


def route_rows(notes: DataFrame, partitions: DataFrame, run_id: str, energy: RunEnergy) -> list[dict]:
    """The route_rollup rows, labelled."""
    return [labelled(r.asDict(), energy, r["variant"]) for r in route_rollup(notes, partitions, run_id).collect()]


def route_rollup(notes: DataFrame, partitions: DataFrame, run_id: str) -> DataFrame:
    """One row per variant the run used (two when routing small <-> large): its notes, energy and efficiency, and
    the share of its notes escalated to the large tier (a cascade's small tier; 0 elsewhere). `notes` are note rows
    of one pass each: a cascade's escalated notes count in both tiers."""
    energy = partitions.groupBy("variant").agg(
        F.sum("energy_j").alias("energy_j"), measured_share(partitions).alias("measured_share"),
    )
    row = notes.groupBy("variant").agg(*_note_counts()).join(energy, "variant", "left")
    energy_wh = wh(F.coalesce(F.col("energy_j"), F.lit(0.0)))
    return row.select(
        F.lit(run_id).alias("run_id"),
        "variant",
        "notes",
        "notes_ok",
        "notes_reused",
        "prompt_tokens",
        "output_tokens",
        energy_wh.alias("energy_wh"),
        wh_per_1000_notes(F.coalesce(F.col("energy_j"), F.lit(0.0)), F.col("notes")).alias("wh_per_1000_notes"),
        F.try_divide("output_tokens", "energy_j").alias("output_tokens_per_joule"),
        "measured_share",
        "dtype",
        "escalated_notes",
        F.try_divide("escalated_notes", "notes").alias("escalation_rate"),
    )


def _energy(partitions: DataFrame) -> DataFrame:
    tokens_per_wh = F.try_divide(F.col("output_tokens"), wh(F.col("energy_j")))  # a 0 J window: null, not an error
    all_above_idle = F.bool_and("above_idle_available")
    return partitions.agg(
        F.coalesce(F.sum("energy_j"), F.lit(0.0)).alias("energy_j"),  # 0: every note was reused
        F.coalesce(F.sum("gpu_energy_j"), F.lit(0.0)).alias("gpu_energy_j"),
        F.coalesce(F.sum("host_energy_j"), F.lit(0.0)).alias("host_energy_j"),
        measured_share(partitions).alias("measured_share"),
        F.when(all_above_idle, wh(F.sum("energy_above_idle_j"))).alias("energy_above_idle_wh"),
        F.percentile(tokens_per_wh, 0.05).alias("tokens_per_wh_p5"),
        F.percentile(tokens_per_wh, 0.5).alias("tokens_per_wh_p50"),
        F.percentile(tokens_per_wh, 0.95).alias("tokens_per_wh_p95"),
        (F.max("end_ts") - F.min("start_ts")).alias("inference_s"),
        F.count(F.lit(1)).alias("partitions"),
        F.sum(F.col("partial").cast("int")).alias("partial_partitions"),
        F.sum(F.col("shared_device").cast("int")).alias("shared_device_partitions"),
    )


def _engine_loads(engine_loads: DataFrame, energy: RunEnergy) -> DataFrame:
    """The engine loads' energy (every model load and warm-up in the ledger: null when the ledger could not be
    read), the longest worker's load time (a warmed worker's import and model load together), the warm-ups of
    workers that ran no partition, and the loads still open when the ledger was read."""
    per_worker = engine_loads.groupBy("executor_id", "pid").agg(
        F.sum("energy_j").alias("energy_j"), F.sum("duration_s").alias("duration_s"))
    loads = energy.engine_loads
    return per_worker.agg(
        (wh(F.coalesce(F.sum("energy_j"), F.lit(0.0))) if energy.readable else F.lit(None).cast("double"))
        .alias("engine_load_wh"),
        F.max("duration_s").alias("engine_load_s"),
        F.lit(energy.unreported_warm_ups if energy.readable else None).cast("long").alias("unreported_warm_ups"),
        F.lit(loads.unfinished).cast("long").alias("engine_load_unfinished_windows"),
    )


def _impact(energy_wh: Column, notes: Column, impact: ImpactFactors) -> list[Column]:
    """Derived figures per 1,000 notes: facility energy (x PUE), emissions and cost, with their factors."""
    facility_kwh_per_1000 = energy_wh * F.lit(impact.pue) / notes  # Wh per note = kWh per 1,000 notes
    per_kwh = lambda factor: F.lit(factor).cast("double") * facility_kwh_per_1000  # noqa: E731
    return [
        (facility_kwh_per_1000 * 1000).alias("facility_wh_per_1000_notes"),
        per_kwh(impact.carbon_intensity_g_per_kwh).alias("gco2e_per_1000_notes"),
        per_kwh(impact.price_per_kwh).alias("cost_per_1000_notes"),
        F.lit(impact.pue).alias("pue"),
        F.lit(impact.carbon_intensity_g_per_kwh).cast("double").alias("carbon_intensity_g_per_kwh"),
        F.lit(impact.carbon_intensity_source).cast("string").alias("carbon_intensity_source"),
        F.lit(impact.price_per_kwh).cast("double").alias("price_per_kwh"),
        F.lit(impact.currency).alias("currency"),
    ]


def run_rollup_row(notes: DataFrame, partitions: DataFrame, engine_loads: DataFrame, run: RunInfo) -> dict:
    """The run_rollup row, labelled; its engine loads' energy too (engine_load_status)."""
    row = run_rollup(notes, partitions, engine_loads, run).first().asDict()
    loads = list(run.energy.loads)
    return labelled(row, run.energy) | {
        "energy_status_reason": "; ".join(run.energy.partial_reasons()) or None,
        "engine_load_status": window_status(loads).name if loads else None,
    }


def run_rollup(notes: DataFrame, partitions: DataFrame, engine_loads: DataFrame, run: RunInfo) -> DataFrame:
    """One row: the run's totals, Wh per 1,000 notes (and with discarded attempts' energy), tokens per joule,
    the partition spread of tokens per Wh, GPU and host energy, how much of it was measured, the engine loads,
    and the derived facility, carbon and cost figures."""
    counts = notes.agg(*_note_counts())
    row = counts.crossJoin(_energy(partitions)).crossJoin(_engine_loads(engine_loads, run.energy))
    energy_wh = wh(F.col("energy_j"))
    retry = run.energy.retry
    preprocess_j = 0.0 if run.preprocess_s is None else run.preprocess_energy_j  # None: a stage of unknown cost
    beside = F.col("engine_load_wh") * J_PER_WH + F.lit(retry.energy_j).cast("double") + F.lit(
        preprocess_j).cast("double")  # what the notes' figure leaves out: loads, discarded attempts, Spark NLP
    return row.select(
        F.lit(run.run_id).alias("run_id"),
        F.lit(run.variant).alias("variant"),
        F.lit(run.model).alias("model"),
        "dtype",
        F.lit(run.started_at).cast("timestamp").alias("started_at"),
        "notes",
        "notes_ok",
        "prompt_tokens",
        "output_tokens",
        "notes_reused",
        F.try_divide("notes_reused", "notes").alias("cache_hit_rate"),
        wh(F.col("reused_output_tokens") * F.try_divide("energy_j", "output_tokens")).alias(
            "energy_avoided_wh"  # estimated: reused outputs' tokens at this run's own J per output token
        ),
        "cached_prompt_tokens",
        F.try_divide("cached_prompt_tokens", "prompt_tokens").alias("prefix_cache_hit_rate"),
        energy_wh.alias("energy_wh"),
        wh(F.col("gpu_energy_j")).alias("gpu_energy_wh"),
        wh(F.col("host_energy_j")).alias("host_energy_wh"),
        "measured_share",
        "energy_above_idle_wh",
        wh_per_1000_notes(F.col("energy_j"), F.col("notes")).alias("wh_per_1000_notes"),
        F.lit(retry.energy_j).cast("double").alias("retry_energy_j"),
        F.lit(retry.windows).cast("long").alias("retry_windows"),
        F.lit(retry.unfinished).cast("long").alias("retry_unfinished_windows"),
        F.lit(retry.status).cast("string").alias("retry_energy_status"),
        wh_per_1000_notes(F.col("energy_j") + F.lit(retry.energy_j).cast("double"), F.col("notes"))
        .alias("wh_per_1000_notes_incl_retries"),
        wh_per_1000_notes(F.col("energy_j") + beside, F.col("notes")).alias("wh_per_1000_notes_all_in"),
        F.lit(run.preprocess_s).cast("double").alias("preprocess_s"),
        F.lit(run.preprocess_energy_j).cast("double").alias("preprocess_energy_j"),
        F.try_divide("output_tokens", "energy_j").alias("output_tokens_per_joule"),
        F.try_divide(F.col("prompt_tokens") + F.col("output_tokens"), "energy_j").alias("total_tokens_per_joule"),
        "tokens_per_wh_p5",
        "tokens_per_wh_p50",
        "tokens_per_wh_p95",
        F.lit(run.duration_s).alias("duration_s"),
        ((F.col("notes") - F.lit(run.notes_resumed)) / F.lit(run.duration_s)).alias("notes_per_s"),  # this attempt's
        "engine_load_wh",
        "engine_load_s",
        "unreported_warm_ups",
        "engine_load_unfinished_windows",
        "inference_s",
        "partitions",
        "partial_partitions",
        "shared_device_partitions",
        *_impact(energy_wh, F.col("notes"), run.impact),
        "escalated_notes",
        F.try_divide("escalated_notes", "notes").alias("escalation_rate"),
        F.lit(run.notes_resumed).cast("long").alias("notes_resumed"),
    )
