"""The output cache and small/large routing with the real engine: a repeated note is generated once, a rerun
reuses every ok output with no inference (also in a cascade), and each route gets its own stage and roll-up row. Runs after
the shared job run, reusing its session (and its engines: the small tier here has the same engine spec)."""

import json

import pytest
from pyspark.sql import functions as F

from conftest import FAST
from notewatt.config import PROJECT_ROOT, OutputConfig
from notewatt.table_store import TableStore
from notewatt.tables import NOTE_ABSTRACTIONS, ROUTE_ROLLUP

pytestmark = pytest.mark.integration
SMALL_TIER = {"small-tier": {"model": "models/smollm2-135m-instruct", "dtype": "float32",
                             "engine_args": {"max_model_len": 2048, "enforce_eager": True}}}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("levers")
    notes = {n["note_id"]: n for n in map(json.loads, (PROJECT_ROOT / "data/sample_notes/notes.jsonl").open())}
    copy = dict(notes["syn-001"], note_id="syn-001-copy", text=notes["syn-001"]["text"].replace("\n", "\n\n "))
    (tmp / "notes.jsonl").write_text("\n".join(json.dumps(n) for n in [notes["syn-001"], notes["syn-003"], copy]))
    return tmp


def run(tmp, run_id, *extra):
    import notewatt
    from notewatt.cli import DEFAULT_PROFILE
    from notewatt.config import load_config

    return notewatt.run(load_config([DEFAULT_PROFILE], [
        f"corpus.path={tmp / 'notes.jsonl'}", f"output.path={tmp / 'delta'}", f"run_id={run_id}",
        f"variant={FAST}", "spark.partitions=1", "cache.enabled=true", f"variants={json.dumps(SMALL_TIER)}",
        "routing.small_variant=small-tier", "routing.max_small_chars=1100",
        f"mlflow.tracking_uri=sqlite:///{tmp}/mlflow.db", f"mlflow.artifact_location={tmp}/artifacts", *extra,
    ])).rollup


def notes_of(spark, tmp, run_id):
    table = TableStore(spark, OutputConfig(path=str(tmp / "delta"))).read(NOTE_ABSTRACTIONS)
    return {r.note_id: r for r in table.where(F.col("run_id") == run_id).collect()}


def test_a_repeated_note_is_generated_once_and_each_route_has_its_rows(spark, corpus):
    first = run(corpus, "cache-1")
    rows = notes_of(spark, corpus, "cache-1")
    assert (rows["syn-003"].variant, rows["syn-001"].variant) == ("small-tier", "smollm2-135m-fp32")
    copy, original = rows["syn-001-copy"], rows["syn-001"]
    assert copy.cache_hit and not original.cache_hit and copy.detail == "same text as note syn-001"
    assert (copy.abstraction, copy.status) == (original.abstraction, original.status)
    assert (copy.energy_j, copy.output_tokens, copy.reused_output_tokens) == (0.0, 0, original.output_tokens)
    assert first["notes"] == 3 and first["notes_reused"] == 1 and first["energy_avoided_wh"] > 0
    assert first["prefix_cache_hit_rate"] == 0.0  # one prompt per route's engine, and no run inherits another's cache
    routes = TableStore(spark, OutputConfig(path=str(corpus / "delta"))).read(ROUTE_ROLLUP).where("run_id = 'cache-1'")
    by_route = {r.variant: r for r in routes.collect()}
    assert (by_route["small-tier"].notes, by_route["smollm2-135m-fp32"].notes) == (1, 2)
    assert all(r.energy_wh > 0 for r in by_route.values())


def test_a_rerun_reuses_every_ok_output_without_inference(spark, corpus):
    first = notes_of(spark, corpus, "cache-1")
    rerun = run(corpus, "cache-2")
    second = notes_of(spark, corpus, "cache-2")
    ok = {note_id for note_id, r in first.items() if r.status == "ok"}
    assert ok, "the first run produced no ok output to reuse"
    for note_id in ok:
        assert second[note_id].cache_hit and second[note_id].abstraction == first[note_id].abstraction
        assert second[note_id].energy_j == 0.0
    if ok == set(first):
        assert rerun["energy_status"] == "no_inference" and rerun["energy_wh"] == 0.0
    assert rerun["notes_reused"] == len(ok) + ("syn-001" not in ok)  # the copy reuses a regenerated original


def test_a_cascade_reuses_its_final_outputs(spark, corpus):
    """Every note escalated (a mean log-probability below 0): the copy reuses its original's final output, the
    large tier's, and a rerun of the cascade reuses every ok output with no inference."""
    cascade = ["routing.mode=cascade", "routing.min_mean_logprob=0.0"]
    first = run(corpus, "cascade-1", *cascade)
    rows = notes_of(spark, corpus, "cascade-1")
    assert sorted(rows) == ["syn-001", "syn-001-copy", "syn-003"]  # one row per note
    copy, original = rows["syn-001-copy"], rows["syn-001"]
    assert original.escalated and original.variant == FAST and not original.cache_hit
    assert copy.cache_hit and copy.detail == "same text as note syn-001" and not copy.escalated
    assert (copy.variant, copy.abstraction, copy.energy_j) == (FAST, original.abstraction, 0.0)
    assert (first["escalated_notes"], first["notes_reused"]) == (2, 1)
    run(corpus, "cascade-2", *cascade)
    second = notes_of(spark, corpus, "cascade-2")
    ok = {note_id for note_id, r in rows.items() if r.status == "ok"}
    assert ok, "the cascade produced no ok output to reuse"
    for note_id in ok:
        assert second[note_id].cache_hit and second[note_id].energy_j == 0.0
        assert (second[note_id].variant, second[note_id].abstraction) == (FAST, rows[note_id].abstraction)
