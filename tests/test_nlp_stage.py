"""Spark NLP in front of the model (the Spark 3.5 line): a team's own saved pipeline masks what the model and the
output cache see; the sentence stage gives the prompt builder Spark NLP's sentence boundaries, with the same
sections as the Python path; its cost comes from Spark's task metrics; and every way it cannot run is one line."""

import pytest

from notewatt.config import ConfigError, PreprocessConfig
from notewatt.nlp_stage import check_preprocess, run_preprocess, with_pipeline_text, with_sentences
from notewatt.spark_line import current_line
from udfs.sections import chunk_sections, split_sections

SPARK_NLP = current_line().has_spark_nlp
needs_spark_nlp = pytest.mark.skipif(not SPARK_NLP, reason="Spark NLP runs on the Spark 3.5 line: make test SPARK=3.5")
PHONE, MRN = r"\(?\d{3}\)?[ .-]?\d{3}[ .-]\d{4}", r"MRN:? ?\d{6,10}"
NOTE = ("HPI: Mr. Doe, MRN 00123456, is a 61 y.o. man seen by Dr. Smith. He takes metformin 500 mg b.i.d. for DM. "
        "Call (555) 867-5309 with results.\nPLAN: Follow up in 2 wks. Recheck A1c.")


def words(text: str) -> int:
    return len(text.split())


@pytest.mark.skipif(SPARK_NLP, reason="the Spark 4 line's refusal")
@pytest.mark.parametrize("settings, named", [
    ({"engine": "spark_nlp"}, "preprocess.engine spark_nlp"),
    ({"spark_nlp_pipeline": "/tmp/pipeline"}, "preprocess.spark_nlp_pipeline"),
])
def test_spark_nlp_on_the_spark_4_line_fails_before_anything_runs(settings, named):
    with pytest.raises(ConfigError, match=f"{named} needs Spark NLP, which runs on the Spark 3.5 line"):
        check_preprocess(PreprocessConfig(**settings))


@pytest.fixture
def masking_pipeline(spark, tmp_path):
    """A team's de-identification pipeline, saved and loaded by path: phone numbers, then record numbers."""
    from pyspark.ml import Pipeline
    from sparknlp.annotator import DocumentNormalizer
    from sparknlp.base import DocumentAssembler

    stages = [
        DocumentAssembler().setInputCol("text").setOutputCol("document").setCleanupMode("disabled"),
        DocumentNormalizer().setInputCols(["document"]).setOutputCol("phones_masked").setAction("clean")
        .setPatterns([PHONE]).setReplacement("[PHONE]").setPolicy("all").setLowercase(False),
        DocumentNormalizer().setInputCols(["phones_masked"]).setOutputCol("masked").setAction("clean")
        .setPatterns([MRN]).setReplacement("[MRN]").setPolicy("all").setLowercase(False),
    ]
    notes = spark.createDataFrame([("n1", NOTE)], "note_id string, text string")
    path = str(tmp_path / "deid")
    Pipeline(stages=stages).fit(notes).write().overwrite().save(path)
    return notes, path


@needs_spark_nlp
def test_a_saved_pipeline_masks_the_text_the_model_sees(masking_pipeline):
    notes, path = masking_pipeline
    [row] = with_pipeline_text(notes, path, "masked").collect()
    assert row.text == NOTE.replace("MRN 00123456", "[MRN]").replace("(555) 867-5309", "[PHONE]")
    assert row.asDict().keys() == {"note_id", "text"}


@needs_spark_nlp
def test_a_pipeline_that_cannot_be_used_is_one_line_naming_the_setting(masking_pipeline, tmp_path):
    notes, path = masking_pipeline
    with pytest.raises(ConfigError, match="preprocess.spark_nlp_pipeline .* cannot be read as a saved PipelineModel"):
        with_pipeline_text(notes, str(tmp_path / "nowhere"), "masked")
    with pytest.raises(ConfigError, match=r"preprocess.spark_nlp_output_column 'deid' is not among .*'masked'"):
        with_pipeline_text(notes, path, "deid")


@needs_spark_nlp
def test_spark_nlp_sentences_keep_the_text_and_its_sections(spark):
    notes = spark.createDataFrame([("n1", NOTE), ("h1", "<p>BP 120/80.</p><p>Plan: rest.</p>")],
                                  "note_id string, text string")
    rows = {r.note_id: r for r in with_sentences(notes).collect()}
    note = rows["n1"]
    assert note.text == NOTE and note.sentence_starts == [0, 64, 105, 139, 165]
    assert [NOTE[s:s + 8] for s in note.sentence_starts[1:3]] == ["He takes", "Call (55"]  # "Mr.", "Dr.", "y.o." kept
    assert "<p>" not in rows["h1"].text  # HTML screening left behind is normalised away
    sections = split_sections(note.text)
    assert [s.header for s in sections] == ["HPI", "PLAN"]  # the same header rule on both paths
    by_nlp = chunk_sections(sections, 20, words, note.sentence_starts)
    by_regex = chunk_sections(sections, 20, words)
    assert "".join(by_nlp) == "".join(by_regex) == NOTE  # both round-trip the note
    assert all(note.text.index(c) in note.sentence_starts for c in by_nlp)  # cut only where a sentence starts
    assert any(c.startswith("for DM.") for c in by_regex)  # the regex cut mid-sentence, after "b.i.d."


@needs_spark_nlp
def test_the_stage_is_costed_from_sparks_task_metrics(spark):
    notes = spark.createDataFrame([(f"n{i}", NOTE) for i in range(20)], "note_id string, text string")
    out, cost = run_preprocess(notes, PreprocessConfig(engine="spark_nlp"))
    assert out.count() == 20 and cost.wall_s > 0 and cost.cpu_s > 0
    assert cost.energy_j(10.0) == pytest.approx(cost.cpu_s * 10.0)
    assert run_preprocess(notes, PreprocessConfig()) == (notes, None)  # the Python path has no stage


@needs_spark_nlp
@pytest.mark.integration
def test_the_job_prompts_the_masked_text_cut_at_spark_nlp_sentences(spark, masking_pipeline, tmp_path):
    """The real job with both Spark NLP steps: the output cache's key is the masked text's, and the stage's cost
    is in the roll-up (an estimate, not charged to notes)."""
    import hashlib
    import json

    import notewatt
    from notewatt.cli import DEFAULT_PROFILE
    from notewatt.config import OutputConfig, load_config
    from notewatt.inference import partition_settings
    from notewatt.output_cache import generation_context
    from notewatt.table_store import TableStore
    from notewatt.tables import OUTPUT_CACHE

    _, path = masking_pipeline
    (tmp_path / "notes.jsonl").write_text(json.dumps({"note_id": "n1", "text": NOTE}) + "\n")
    config = load_config([DEFAULT_PROFILE], [
        f"corpus.path={tmp_path / 'notes.jsonl'}", f"output.path={tmp_path / 'delta'}", "run_id=nlp-1",
        "variant=smollm2-135m-fp32", "spark.partitions=1", "cache.enabled=true", "preprocess.engine=spark_nlp",
        f"preprocess.spark_nlp_pipeline={path}", f"mlflow.tracking_uri=sqlite:///{tmp_path}/mlflow.db",
        f"mlflow.artifact_location={tmp_path}/artifacts"])
    rollup = notewatt.run(config, spark).rollup
    assert rollup["preprocess_s"] > 0 and rollup["preprocess_energy_j"] > 0
    assert rollup["wh_per_1000_notes_all_in"] > rollup["wh_per_1000_notes"]  # the stage's estimate is in it
    assert rollup["energy_wh"] == pytest.approx(rollup["gpu_energy_wh"] + rollup["host_energy_wh"])
    masked = " ".join(NOTE.replace("MRN 00123456", "[MRN]").replace("(555) 867-5309", "[PHONE]").split())
    context = generation_context(partition_settings(config, "nlp-1"))
    expected = hashlib.sha256(f"{context}\u241e{masked}".encode()).hexdigest()
    cached = TableStore(spark, OutputConfig(path=str(tmp_path / "delta"))).read(OUTPUT_CACHE).collect()
    assert [c.cache_key for c in cached] == [expected]  # the ok output, cached under the masked text's key
