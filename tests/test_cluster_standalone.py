"""The job on a real Spark standalone cluster (a master and two workers on loopback): executor-side imports,
the model path, per-worker engines and shipped settings across processes; bad input quarantined and
reconciled; a task that fails once and is retried, counted once; an executor lost after inference, which makes
no note go through the engine twice; and no planted canary from the notes in
any log, event log or MLflow record the job produced. No processes are left behind."""

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from notewatt.config import PROJECT_ROOT, OutputConfig
from notewatt.table_store import TableStore
from notewatt.tables import DEVICE_ENERGY, ENGINE_LOADS, NOTE_ABSTRACTIONS, PARTITION_ENERGY, QUARANTINE, RUN_ROLLUP
from tests.standalone_cluster import LOOPBACK, StandaloneCluster
from udfs.energy.ledger import LOADS, read_entries

pytestmark = pytest.mark.integration
CANARY = "CANARY-PHI-7f3a9"
RETRIED_PARTITION = 1
ENGINE_LOADED = "notewatt.engines: engine loaded in pid"
EXECUTOR_LOST = "test: executor lost after inference:"  # what tests/failing_partition_job.py prints


def corpus(path):
    """Four good notes (two carrying the canary) and five bad records, each of another kind."""
    good = [json.loads(line) for line in (PROJECT_ROOT / "data/sample_notes/notes.jsonl").read_text().splitlines()[:4]]
    for note in good[::2]:
        note["text"] += f"\nTranscriptionist reference: {CANARY}"
    bad = [
        json.dumps({"note_id": "bad-empty", "text": "   \n "}),
        json.dumps({"note_id": good[1]["note_id"], "text": f"A second note under the same id. {CANARY}"}),
        json.dumps({"note_id": "bad-control", "text": f"{CANARY} \u0001\u0002 garbled transfer"}),
        json.dumps({"note_id": None, "text": f"No identifier on this one. {CANARY}"}),
        '{"note_id": "bad-json", "text": "' + CANARY + " cut off mid-line",
    ]
    path.write_text("\n".join([*map(json.dumps, good), *bad]) + "\n")
    return {n["note_id"] for n in good}


@pytest.fixture(scope="module")
def cluster_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cluster")
    good_ids = corpus(tmp / "notes.jsonl")
    cluster = StandaloneCluster(tmp / "cluster").start()
    (tmp / "events").mkdir()
    command = [
        str(Path(sys.executable).parent / "spark-submit"), "--master", cluster.master_url,  # this venv's Spark line
        "--conf", f"spark.driver.host={LOOPBACK}", "--conf", "spark.executor.cores=1", "--conf", "spark.cores.max=2",
        "--conf", "spark.executor.memory=1g", "--conf", "spark.scheduler.minRegisteredResourcesRatio=1.0",
        "--conf", "spark.scheduler.maxRegisteredResourcesWaitingTime=300s",
        "--conf", "spark.eventLog.enabled=true", "--conf", f"spark.eventLog.dir={tmp / 'events'}",
        str(PROJECT_ROOT / "tests/failing_partition_job.py"), str(RETRIED_PARTITION),
        "--notes", str(tmp / "notes.jsonl"), "--output", str(tmp / "delta"), "--run-id", "cluster-run",
        "--variant", "smollm2-135m-fp32",
        "engine.max_tokens=48", "spark.partitions=2", "engine.env.VLLM_CPU_KVCACHE_SPACE=1",
        f"mlflow.tracking_uri=sqlite:///{tmp}/mlflow.db", f"mlflow.artifact_location={tmp}/artifacts",
    ]
    try:
        with (tmp / "submit.out").open("w") as out, (tmp / "submit.err").open("w") as err:
            result = subprocess.run(command, stdout=out, stderr=err, cwd=tmp, timeout=1200, env=cluster.env())
        time.sleep(5)  # executors exit when the application ends
        leftovers = [" ".join(p.cmdline()[:3]) for p in cluster.descendants()]
    finally:
        cluster.stop()
    assert result.returncode == 0, (tmp / "submit.err").read_text()[-3000:]
    return tmp, good_ids, leftovers, cluster


@pytest.fixture(scope="module")
def tables(spark, cluster_run):
    tmp = cluster_run[0]
    store = TableStore(spark, OutputConfig(path=str(tmp / "delta")))
    names = (NOTE_ABSTRACTIONS, PARTITION_ENERGY, DEVICE_ENERGY, ENGINE_LOADS, QUARANTINE, RUN_ROLLUP)
    return {table: store.read(table).collect() for table in names}


def test_every_good_note_once_despite_a_retried_task(cluster_run, tables):
    _, good_ids, _, _ = cluster_run
    notes = tables[NOTE_ABSTRACTIONS]
    assert sorted(n.note_id for n in notes) == sorted(good_ids)
    partitions = tables[PARTITION_ENERGY]
    assert sorted(p.partition_id for p in partitions) == [0, 1]  # one energy row per partition
    retried = next(p for p in partitions if p.partition_id == RETRIED_PARTITION)
    assert retried.task_attempt >= 1  # the first attempt failed on purpose and Spark re-ran it
    assert {n.task_attempt for n in notes if n.partition_id == RETRIED_PARTITION} == {retried.task_attempt}


def test_the_failed_attempts_energy_is_counted_but_not_charged_to_notes(cluster_run, tables):
    """The failed attempt's window left its energy in the ledger (under the output folder) when it raised: a
    discarded attempt, and the only one: the executor lost after inference made nothing rerun the engine (its
    blocks were never the tables' source). Every engine load and warm-up of the ledger is an engine load."""
    [rollup] = tables[RUN_ROLLUP]
    assert EXECUTOR_LOST in (cluster_run[0] / "submit.out").read_text()
    assert rollup.retry_energy_j > 0 and rollup.retry_windows == 1
    assert rollup.wh_per_1000_notes_incl_retries > rollup.wh_per_1000_notes
    assert rollup.wh_per_1000_notes_all_in > rollup.wh_per_1000_notes_incl_retries  # the engine loads too
    assert rollup.energy_wh == pytest.approx(sum(p.energy_j for p in tables[PARTITION_ENERGY]) / 3600)
    ledger = read_entries(str(cluster_run[0] / "delta" / "_energy_ledger"), recursive=True)
    failed = [e for e in ledger if e.state == "failed"]
    assert [(e.window, e.partition_id, e.task_attempt) for e in failed] == [("partition", RETRIED_PARTITION, 0)]
    kept = {w.window_id for w in tables[PARTITION_ENERGY]}
    discarded = [e for e in ledger if e.window == "partition" and e.window_id not in kept]
    assert failed[0] in discarded and len(discarded) == rollup.retry_windows
    assert rollup.retry_energy_j == pytest.approx(sum(e.measurement.energy_j for e in discarded))
    assert {w.window_id for w in tables[ENGINE_LOADS]} == {e.window_id for e in ledger if e.window in LOADS}


def test_each_executor_loaded_its_own_engine(cluster_run):
    """Both executors ran an inference task and loaded an engine in their own Python worker. Read from the
    executors' logs: the tables keep only successful attempts, and the retry may land on either executor."""
    logs = cluster_run[3].executor_logs()  # and the lost executor's replacement, if the master started one
    assert sum(ENGINE_LOADED in log.read_text() for log in logs) == 2


def test_bad_records_are_quarantined_with_reasons_and_reconciled(tables):
    reasons = sorted(q.reason for q in tables[QUARANTINE])
    assert reasons == ["control_characters", "duplicate_note_id", "empty_text", "malformed_record", "missing_note_id"]
    [rollup] = tables[RUN_ROLLUP]
    assert rollup.notes_in == 9 and rollup.notes_quarantined == 5 and rollup.notes == 4
    assert all(CANARY not in (q.description or "") for q in tables[QUARANTINE])


def test_device_rows_cover_every_window(tables):
    windows = {w.window_id for w in tables[PARTITION_ENERGY]} | {w.window_id for w in tables[ENGINE_LOADS]}
    assert {d.window_id for d in tables[DEVICE_ENERGY]} == windows


def test_no_canary_in_any_log_event_log_or_mlflow_record(cluster_run):
    tmp = cluster_run[0]
    produced = [tmp / "submit.out", tmp / "submit.err", tmp / "mlflow.db",
                *(tmp / "cluster").rglob("*"), *(tmp / "events").rglob("*"), *(tmp / "artifacts").rglob("*")]
    files = [p for p in produced if p.is_file()]
    assert any(p.name == "stderr" for p in files)  # executor logs were collected
    assert len(files) > 10
    leaks = [str(p.relative_to(tmp)) for p in files if CANARY.encode() in p.read_bytes()]
    assert leaks == []


def test_no_processes_left_behind(cluster_run):
    _, _, leftovers, cluster = cluster_run
    assert leftovers == []  # executors and their Python workers ended with the application
    assert all(p.poll() is not None for p in cluster.processes)
