"""A run survives its driver: spark-submit is killed (SIGKILL) while its second slice of notes is in the engine,
after the first slice was committed; the rerun of the run id ends with every note once, the first slice's rows
untouched and its notes not sent to the engine again, and the killed attempt's unfinished windows reported as
discarded energy. A rerun with another variant, or --resume of a run that does not exist, stops before inference."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import notewatt
from notewatt.cli import DEFAULT_PROFILE
from notewatt.config import PROJECT_ROOT, OutputConfig, load_config
from notewatt.run_state import COMPLETE, RunStateError
from notewatt.table_store import TableStore
from notewatt.tables import INFERENCE_OUTPUTS, NOTE_ABSTRACTIONS, PARTITION_ENERGY, RUN_STATUS
from tests.conftest import FAST
from udfs.energy.ledger import OPEN, PARTITION, read_entries

pytestmark = pytest.mark.integration
NOTES, PARTITIONS, PER_TASK = 8, 2, 2  # slices of 4 notes on 2 partitions: the second slice's partition ids are 2, 3
RUN = "resumed-run"


def settings(tmp):
    return [f"corpus.path={tmp / 'notes.jsonl'}", f"output.path={tmp / 'delta'}", f"run_id={RUN}", f"variant={FAST}",
            "engine.max_tokens=48", f"spark.partitions={PARTITIONS}", f"output.slice_notes_per_task={PER_TASK}",
            f"mlflow.tracking_uri=sqlite:///{tmp}/mlflow.db", f"mlflow.artifact_location={tmp}/artifacts"]


def second_slice_running(tmp) -> bool:
    """The first slice is committed and a window of the second is open in the ledger."""
    if not (tmp / "delta" / INFERENCE_OUTPUTS.name / "_delta_log").exists():
        return False
    entries = read_entries(str(tmp / "delta" / "_energy_ledger" / RUN), recursive=True)
    return any(e.window == PARTITION and e.state == OPEN and e.partition_id >= PARTITIONS for e in entries)


def kill_the_driver_in_its_second_slice(tmp):
    command = [str(Path(sys.executable).parent / "spark-submit"), str(PROJECT_ROOT / "jobs" / "abstract_notes.py"),
               *settings(tmp)]
    with (tmp / "killed.err").open("w") as err:
        driver = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=err, cwd=tmp, env=os.environ,
                                  start_new_session=True)
        deadline = time.monotonic() + 900
        while not second_slice_running(tmp):
            assert driver.poll() is None, (tmp / "killed.err").read_text()[-3000:]
            assert time.monotonic() < deadline, "the second slice never started"
            time.sleep(0.2)
        driver.send_signal(signal.SIGKILL)  # spark-submit's JVM: the driver, and in local mode the executor too
        driver.wait()
        os.killpg(driver.pid, signal.SIGKILL)  # its Python workers, as a lost driver node takes them with it


@pytest.fixture(scope="module")
def resumed(spark, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("resume")
    lines = (PROJECT_ROOT / "data" / "sample_notes" / "notes.jsonl").read_text().splitlines()[:NOTES]
    (tmp / "notes.jsonl").write_text("\n".join(lines) + "\n")
    kill_the_driver_in_its_second_slice(tmp)
    store = TableStore(spark, OutputConfig(path=str(tmp / "delta")))
    before = {r.note_id: r.asDict() for r in store.read(INFERENCE_OUTPUTS).collect()}
    result = notewatt.run(load_config([DEFAULT_PROFILE], settings(tmp)), spark)
    return tmp, store, before, result


def test_the_rerun_ends_with_every_note_once_and_the_committed_slice_untouched(resumed):
    tmp, store, before, result = resumed
    note_ids = {json.loads(line)["note_id"] for line in (tmp / "notes.jsonl").read_text().splitlines()}
    notes = store.read(NOTE_ABSTRACTIONS).where(f"run_id = '{RUN}'").collect()
    assert sorted(n.note_id for n in notes) == sorted(note_ids)
    assert 0 < len(before) < NOTES and {r["partition_id"] for r in before.values()} <= set(range(PARTITIONS))
    committed = {r.note_id: r.asDict() for r in store.read(INFERENCE_OUTPUTS).collect()}
    assert len(committed) == store.read(INFERENCE_OUTPUTS).count() == NOTES  # once each
    assert all(committed[n] == row for n, row in before.items())  # the first slice's rows as they were
    rerun = {r["job_attempt"] for n, r in committed.items() if n not in before}
    assert len(rerun) == 1 and rerun.isdisjoint({r["job_attempt"] for r in before.values()})
    assert result.rollup["notes"] == NOTES and result.rollup["notes_resumed"] == len(before)


def test_the_committed_notes_went_to_the_engine_once_and_the_killed_attempts_energy_is_discarded(resumed):
    tmp, store, before, result = resumed
    entries = [e for e in read_entries(str(tmp / "delta" / "_energy_ledger" / RUN), recursive=True)
               if e.window == PARTITION]
    kept = {r.window_id for r in store.read(PARTITION_ENERGY).where(f"run_id = '{RUN}'").collect()}
    rerun_windows = [e for e in entries if e.window_id in kept and e.window_id not in
                     {r["window_id"] for r in before.values()}]
    assert sum(e.notes for e in rerun_windows) == NOTES - len(before)  # the rerun inferred only the rest
    assert kept == {r.window_id for r in store.read(INFERENCE_OUTPUTS).collect()}
    killed = [e for e in entries if e.window_id not in kept]  # the second slice's windows of the killed attempt
    cut = [e for e in killed if e.state == OPEN]
    assert cut and {e.partition_id for e in killed} <= {PARTITIONS, PARTITIONS + 1}
    rollup = result.rollup
    assert rollup["retry_windows"] == len(killed) and rollup["retry_unfinished_windows"] == len(cut)
    assert rollup["retry_energy_j"] == pytest.approx(sum(e.measurement.energy_j for e in killed))
    [status] = store.read(RUN_STATUS).where(f"run_id = '{RUN}'").collect()
    assert (status.status, status.attempts, status.notes_resumed) == (COMPLETE, 2, len(before))


def test_a_rerun_with_another_variant_or_a_resume_of_no_run_stops_before_inference(spark, resumed):
    tmp = resumed[0]
    with pytest.raises(RunStateError, match=f"run {RUN} was run with variants"):
        notewatt.run(load_config([DEFAULT_PROFILE], [*settings(tmp), "variant=smollm2-135m"]), spark)
    with pytest.raises(RunStateError, match="run nowhere does not exist"):
        notewatt.run(load_config([DEFAULT_PROFILE], [*settings(tmp), "run_id=nowhere", "resume=true"]), spark)
