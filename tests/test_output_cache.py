"""Output reuse: the cache key, the reuse plan (cache hits, repeats within a run), reused rows, the Delta cache."""

import json
from dataclasses import replace

import pytest
from pyspark.sql import functions as F

from notewatt.config import CacheConfig, OutputConfig, RoutingConfig
from notewatt.output_cache import (
    generation_context, generation_contexts, plan_reuse, update_cache, with_cache_keys, with_reused_notes,
)
from notewatt.table_store import TableStore
from notewatt.tables import OUTPUT_CACHE
from tests.test_partition_function import settings

NOTES = "note_id string, text string, note_type string, variant string"
NOTE_ROWS = ("run_id string, note_id string, note_type string, variant string, model string, partition_id int, "
             "status string, abstraction string, detail string, finish_reason string, prompt_tokens long, "
             "output_tokens long, cached_prompt_tokens long, energy_j double, energy_source string")


def keys(spark, texts, variant="v", contexts=None):
    notes = spark.createDataFrame([(f"n{i}", t, "x", variant) for i, t in enumerate(texts)], NOTES)
    keyed = with_cache_keys(notes, contexts or {"v": "ctx-v", "w": "ctx-w"})
    return [r.cache_key for r in keyed.orderBy("note_id").collect()]


def test_the_key_ignores_whitespace_but_not_text_or_variant(spark):
    a, rewrapped, other = keys(spark, ["BP 120/80.\nPlan: rest.", "  BP 120/80.  Plan:\trest. ", "BP 130/80. Plan: rest."])
    assert a == rewrapped and a != other and len(a) == 64
    [under_w] = keys(spark, ["BP 120/80.\nPlan: rest."], variant="w")
    assert under_w != a


def test_the_generation_context_changes_with_prompt_schema_and_settings():
    base = settings()
    assert generation_context(base) == generation_context(settings())
    changed = [
        replace(base, template=replace(base.template, version="t2")),
        replace(base, schema={**base.schema, "required": ["problems"]}),
        replace(base, variant="other"),
        replace(base, max_tokens=128),
    ]
    assert len({generation_context(s) for s in [base, *changed]}) == 5


def test_a_cascade_keys_its_notes_by_both_tiers_and_its_rule():
    tiers = {"small": replace(settings(), variant="small"), "large": replace(settings(), variant="large")}
    static = generation_contexts(RoutingConfig(small_variant="small"), tiers)
    assert static == {variant: generation_context(s) for variant, s in tiers.items()}

    def cascade(threshold, large=tiers["large"]):
        routing = RoutingConfig(mode="cascade", small_variant="small", min_mean_logprob=threshold)
        return generation_contexts(routing, {**tiers, "large": large})

    [(routed_to, context)] = cascade(-0.1).items()
    assert routed_to == "small" and context != static["small"]  # the small tier's own output may be replaced
    others = [cascade(-0.2)["small"], cascade(-0.1, replace(tiers["large"], max_tokens=128))["small"]]
    assert len({context, *others}) == 3 and cascade(-0.1)["small"] == context


@pytest.fixture
def plan(spark):
    notes = spark.createDataFrame(
        [("a", "same text", "x", "v"), ("b", "same  text", "x", "v"), ("c", "cached text", "x", "v"),
         ("d", "new text", "x", "v")], NOTES,
    )
    keyed = with_cache_keys(notes, {"v": "ctx"})
    cached_key = keyed.where(F.col("note_id") == "c").first().cache_key
    cached = spark.createDataFrame(
        [(cached_key, "v", "m", "ok", '{"cached": true}', "stop", 55, "run-0", "z")],
        "cache_key string, variant string, model string, status string, abstraction string, finish_reason string, "
        "output_tokens long, run_id string, note_id string",
    )
    return plan_reuse(keyed, cached)


def test_only_one_note_per_uncached_key_is_generated(plan):
    assert sorted(r.note_id for r in plan.to_generate.collect()) == ["a", "d"]
    assert [(r.note_id, r.reused_from_note) for r in plan.duplicates.collect()] == [("b", "a")]
    [hit] = plan.from_cache.collect()
    assert (hit.note_id, hit.abstraction, hit.reused_output_tokens, hit.reused_from_run) == ("c", '{"cached": true}', 55, "run-0")


def test_before_the_cache_exists_repeats_are_still_generated_once(spark):
    notes = spark.createDataFrame([("a", "same", "x", "v"), ("b", "same ", "x", "v")], NOTES)
    plan = plan_reuse(with_cache_keys(notes, {"v": "ctx"}), None)
    assert [r.note_id for r in plan.to_generate.collect()] == ["a"]
    assert plan.from_cache.count() == 0 and "reused_from_run" in plan.from_cache.columns
    assert [r.note_id for r in plan.duplicates.collect()] == ["b"]


def generated_rows(spark):
    return spark.createDataFrame(
        [("r1", "a", "x", "v", "m", 0, "ok", '{"fresh": 1}', None, "stop", 100, 40, 20, 3.5, "estimate"),
         ("r1", "d", "x", "v", "m", 0, "ok", '{"fresh": 2}', None, "stop", 90, 30, 20, 2.5, "estimate")],
        NOTE_ROWS,
    )


def test_reused_notes_get_the_original_output_and_cost_no_inference(spark, plan):
    rows = {r.note_id: r for r in with_reused_notes(generated_rows(spark), plan, "r1").collect()}
    assert sorted(rows) == ["a", "b", "c", "d"]
    assert not rows["a"].cache_hit and rows["a"].energy_j == 3.5
    for note_id, abstraction, reused_tokens in [("b", '{"fresh": 1}', 40), ("c", '{"cached": true}', 55)]:
        row = rows[note_id]
        assert (row.cache_hit, row.abstraction, row.status) == (True, abstraction, "ok")
        assert (row.energy_j, row.prompt_tokens, row.output_tokens, row.reused_output_tokens) == (0.0, 0, 0, reused_tokens)
        assert (row.energy_source, row.run_id, row.model) == ("reused (no inference)", "r1", "m")
    assert rows["b"].detail == "same text as note a" and rows["c"].detail == "output cache, from run run-0"


def test_a_reused_note_names_the_variant_whose_output_it_reuses(spark):
    """A cascade routes every note to its small tier, but an output it reuses may be its large tier's."""
    notes = spark.createDataFrame([("a", "text", "x", "small"), ("b", "text ", "x", "small"),
                                   ("c", "cached", "x", "small")], NOTES)
    keyed = with_cache_keys(notes, {"small": "ctx"})
    cached_key = keyed.where(F.col("note_id") == "c").first().cache_key
    cached = spark.createDataFrame([(cached_key, "large", "m-large", "ok", "{}", "stop", 9, "run-0", "z")],
                                   OUTPUT_CACHE.schema)
    plan = plan_reuse(keyed, cached)
    passes = spark.createDataFrame(  # note a went through both tiers
        [("r1", "a", "x", "small", "m-small", 0, "ok", "{}", None, "stop", 9, 5, 0, 1.0, "estimate"),
         ("r1", "a", "x", "large", "m-large", 1, "ok", "{}", None, "stop", 9, 6, 0, 2.0, "estimate")], NOTE_ROWS)
    rows = with_reused_notes(passes, plan, "r1").where(F.col("cache_hit")).collect()
    assert sorted((r.note_id, r.variant, r.model) for r in rows) == [
        ("b", "large", "m-large"), ("b", "small", "m-small"), ("c", "large", "m-large")]


def test_the_cache_keeps_ok_outputs_once_per_key_across_reruns(spark, plan, tmp_path):
    store = TableStore(spark, OutputConfig(path=str(tmp_path)))
    notes = with_reused_notes(generated_rows(spark), plan, "r1").withColumn(
        "status", F.when(F.col("note_id") == "d", "invalid_json").otherwise(F.col("status"))
    )
    for _ in range(2):  # a rerun adds nothing new
        update_cache(store, CacheConfig(), notes, plan)
    cache = store.read(OUTPUT_CACHE)
    rows = cache.collect()
    assert [(r.note_id, r.abstraction, r.output_tokens) for r in rows] == [("a", '{"fresh": 1}', 40)]
    assert "text" not in cache.columns and json.loads(rows[0].abstraction) == {"fresh": 1}
