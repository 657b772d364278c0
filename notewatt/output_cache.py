"""Output reuse: a note whose normalised text was abstracted before under the same prompt template, schema,
variant and generation settings gets that output back instead of generating it again.

The key is a SHA-256 of (normalised text, that context); the cache is a Delta table of ok outputs keyed by it
(no note text). Within a run, repeated notes (templates, copy-forward notes) are generated once and the
others reuse the first. Reused notes cost 0 inference joules, are marked `cache_hit` and name the variant whose
output they reuse. A cascade's notes are keyed by the whole cascade (both tiers and its escalation rule): its
final output may be either tier's.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from notewatt.config import CacheConfig, RoutingConfig
from udfs.energy.vocabulary import REUSED
from notewatt.table_store import TableStore
from notewatt.tables import OUTPUT_CACHE
from udfs.abstract_partition import PartitionSettings


def generation_context(settings: PartitionSettings) -> str:
    """Everything besides the note's text that decides its output, as a canonical string."""
    schema_version = hashlib.sha256(json.dumps(settings.schema, sort_keys=True).encode()).hexdigest()[:16]
    return json.dumps(
        {
            "prompt_version": settings.template.version,
            "schema_version": schema_version,
            "variant": settings.variant,
            "engine": settings.engine.key,
            "max_tokens": settings.max_tokens,
            "temperature": settings.temperature,
            "drop_sections": sorted(settings.preprocessing.drop_sections),
            "chunk_long_notes": settings.preprocessing.chunk_long_notes,
            "sentence_boundaries": settings.preprocessing.sentence_boundaries,
        },
        sort_keys=True,
    )


def generation_contexts(routing: RoutingConfig, settings: dict[str, PartitionSettings]) -> dict[str, str]:
    """The generation context of each variant notes are routed to; in a cascade (every note routed to its small
    tier) the whole cascade's: both tiers' contexts and the rule that escalates a note."""
    contexts = {variant: generation_context(s) for variant, s in settings.items()}
    if routing.mode != "cascade":
        return contexts
    return {routing.small_variant: json.dumps({"cascade": routing.summary, "tiers": contexts}, sort_keys=True)}


def normalised_text(text: Column) -> Column:
    """Whitespace runs collapsed to one space, ends trimmed: re-wrapped copies of a note share a key."""
    return F.trim(F.regexp_replace(text, r"\s+", " "))


def cache_key(text: Column, context: Column) -> Column:
    return F.sha2(F.concat_ws("\u241e", context, normalised_text(text)), 256)


def with_cache_keys(notes: DataFrame, contexts: dict[str, str]) -> DataFrame:
    """Routed notes (a `variant` column) with the cache key under their variant's generation context."""
    context = F.coalesce(*[F.when(F.col("variant") == v, F.lit(c)) for v, c in contexts.items()])
    return notes.withColumn("cache_key", cache_key(F.col("text"), context))


def _made_by() -> list[Column]:
    """The variant and model that made an output, as the reused rows' own."""
    return [F.col("variant").alias("reused_variant"), F.col("model").alias("reused_model")]


@dataclass(frozen=True)
class ReusePlan:
    to_generate: DataFrame  # one note per key that the cache lacks, with its cache_key
    from_cache: DataFrame  # notes whose key is cached: note columns + the cached output
    duplicates: DataFrame  # later notes of a key generated in this run: note columns + reused_from_note


def plan_reuse(keyed: DataFrame, cached: DataFrame | None) -> ReusePlan:
    """Split keyed notes into those to generate, cache hits, and in-run repeats of a generated note
    (`cached`: the cache table, None before its first run)."""
    if cached is None:
        cached = keyed.sparkSession.createDataFrame([], OUTPUT_CACHE.schema)
    outputs = cached.select(
        "cache_key", "status", "abstraction", "finish_reason", *_made_by(),
        F.col("output_tokens").alias("reused_output_tokens"), F.col("run_id").alias("reused_from_run"),
    ).dropDuplicates(["cache_key"])
    misses = keyed.join(outputs.select("cache_key"), "cache_key", "left_anti")
    first = Window.partitionBy("cache_key").orderBy("note_id")
    ranked = misses.withColumn("_rank", F.row_number().over(first)).withColumn(
        "reused_from_note", F.first("note_id").over(first)
    )
    return ReusePlan(
        to_generate=ranked.where(F.col("_rank") == 1).drop("_rank", "reused_from_note"),
        from_cache=keyed.drop("text").join(outputs, "cache_key"),
        duplicates=ranked.where(F.col("_rank") > 1).drop("_rank", "text"),
    )


def reused_rows(plan: ReusePlan, generated: DataFrame, run_id: str) -> DataFrame:
    """Note rows for reused notes, in the generated rows' columns: 0 tokens generated, 0 inference joules,
    the original output, the variant and model that made it and how many output tokens it took (a repeat of a
    note a cascade escalated gets a row per pass, as its original has)."""
    originals = generated.select(
        F.col("note_id").alias("reused_from_note"), "status", "abstraction", "finish_reason", *_made_by(),
        F.col("output_tokens").alias("reused_output_tokens"),
    )
    repeats = plan.duplicates.join(originals, "reused_from_note").withColumn(
        "detail", F.concat(F.lit("same text as note "), F.col("reused_from_note"))
    )
    hits = plan.from_cache.withColumn("detail", F.concat(F.lit("output cache, from run "), F.col("reused_from_run")))
    reused = repeats.unionByName(hits, allowMissingColumns=True).drop("variant").withColumnsRenamed(
        {"reused_variant": "variant", "reused_model": "model"}).select(
        "*", F.lit(run_id).alias("run_id"), F.lit(True).alias("cache_hit"), F.lit(0.0).alias("energy_j"),
        F.lit(REUSED).alias("energy_source"),
        F.lit(0).cast("long").alias("prompt_tokens"), F.lit(0).cast("long").alias("output_tokens"),
        F.lit(0).cast("long").alias("cached_prompt_tokens"),
    )
    return reused.select(
        *[(reused[c] if c in reused.columns else F.lit(None)).cast(generated.schema[c].dataType).alias(c)
          for c in generated.columns]
    )


def with_reused_notes(generated: DataFrame, plan: ReusePlan | None, run_id: str) -> DataFrame:
    """All the run's note rows: the generated ones (cache_hit false) and, with a reuse plan, the reused ones."""
    generated = generated.withColumn("cache_hit", F.lit(False)).withColumn(
        "reused_output_tokens", F.lit(0).cast("long")
    )
    return generated.unionByName(reused_rows(plan, generated, run_id)) if plan else generated


def look_up_outputs(store: TableStore, cache: CacheConfig, routed: DataFrame, routing: RoutingConfig,
                    settings: dict[str, PartitionSettings]) -> ReusePlan:
    """The routed notes' reuse plan against the configured cache table (absent on a first run)."""
    keyed = with_cache_keys(routed, generation_contexts(routing, settings))
    return plan_reuse(keyed, store.read_or_none(OUTPUT_CACHE.named(cache.table)))


def update_cache(store: TableStore, cache: CacheConfig, notes: DataFrame, plan: ReusePlan) -> None:
    """Add this run's generated ok outputs under keys the cache lacks (a rerun never duplicates a key)."""
    keys = plan.to_generate.select("note_id", "cache_key")
    generated = notes.where(~F.col("cache_hit") & (F.col("status") == "ok")).join(keys, "note_id")
    store.insert_new_keys(OUTPUT_CACHE.named(cache.table), generated)
