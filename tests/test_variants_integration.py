"""Two real CPU variants (fp32 and bf16 of the packaged model) compared on the same notes, and an engine
that cannot start failing the job with one clear line. Runs after the shared job run, reusing its session."""

import mlflow
import pytest

from notewatt.config import PROJECT_ROOT, OutputConfig
from notewatt.table_store import TableStore
from notewatt.tables import VARIANT_COMPARISONS
from udfs.engine import EngineStartError

pytestmark = pytest.mark.integration
VARIANTS = ["smollm2-135m-fp32", "smollm2-135m-bf16"]


@pytest.fixture(scope="module")
def notes_file(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("variants")
    lines = (PROJECT_ROOT / "data" / "sample_notes" / "notes.jsonl").read_text().splitlines()[:2]
    (tmp / "notes.jsonl").write_text("\n".join(lines) + "\n")
    return tmp


def job_args(tmp):
    return ["--notes", str(tmp / "notes.jsonl"), "--output", str(tmp / "delta"), "engine.max_tokens=32",
            "--variant", "smollm2-135m-fp32",
            "spark.partitions=1", f"mlflow.tracking_uri=sqlite:///{tmp}/mlflow.db",
            f"mlflow.artifact_location={tmp}/artifacts"]


def test_two_variants_make_a_comparison_table_and_a_pareto_chart(spark, notes_file):
    from jobs.compare_variants import COMPARISON_TAG, main

    table = main(["--variants", ",".join(VARIANTS), *job_args(notes_file)])
    assert sorted(table["variant"]) == sorted(VARIANTS) and table["on_front"].any()
    assert (table["wh_per_1000_notes"] > 0).all() and (table["energy_status"] == "estimated").all()
    comparison_id = table["comparison_id"][0]
    rows = TableStore(spark, OutputConfig(path=str(notes_file / "delta"))).read(VARIANT_COMPARISONS).collect()
    assert sorted(r.variant for r in rows if r.comparison_id == comparison_id) == sorted(VARIANTS)
    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{notes_file}/mlflow.db")
    [parent] = mlflow.search_runs(experiment_names=["notewatt"], output_format="list",
                                  filter_string=f"tags.`{COMPARISON_TAG}` = '{comparison_id}'")
    assert {a.path for a in client.list_artifacts(parent.info.run_id, "comparison")} == {
        "comparison/pareto.png", "comparison/variant_comparison.csv"}
    children = client.search_runs([parent.info.experiment_id],
                                  filter_string=f"tags.mlflow.parentRunId = '{parent.info.run_id}'")
    assert sorted(c.data.params["variant"] for c in children) == sorted(VARIANTS)


def test_an_engine_that_cannot_start_fails_the_job_with_model_and_reason(notes_file):
    from jobs.abstract_notes import main

    broken = '{"broken": {"model": "/nonexistent/notewatt-model", "dtype": "float32"}}'
    with pytest.raises(EngineStartError, match="model /nonexistent/notewatt-model.*devices \\[cpu"):
        main([*job_args(notes_file), f"variants={broken}", "--variant", "broken", "--run-id", "broken-run"])
