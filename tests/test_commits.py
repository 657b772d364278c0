"""Inference committed in slices, and a run's state: a resumed job attempt sees what earlier ones committed, sends
only the rest on, numbers its partitions after theirs, and reads every note once; a slice is written once; a rerun
must be the same run, and --resume needs a run that exists."""

from dataclasses import dataclass

import pytest
from pyspark.sql import functions as F

from notewatt.commits import SliceCommits
from notewatt.config import OutputConfig
from notewatt.run_state import COMPLETE, FAILED, RUNNING, RunIdentity, RunState, RunStateError
from notewatt.table_store import TableStore
from notewatt.tables import INFERENCE_OUTPUTS, RUN_STATUS
from udfs.abstract_partition import OUTPUT_SCHEMA, output_frame


@dataclass(frozen=True)
class Settings:
    first_partition: int = 0


def stage_rows(spark, note_ids, partition_id=0, variant="v"):
    """Note rows as the inference stage gives them."""
    rows = output_frame([dict(run_id="r", variant=variant, note_id=n, partition_id=partition_id, task_attempt=0,
                              window_id=f"w{partition_id}", status="ok") for n in note_ids])
    return spark.createDataFrame(rows.astype(object).where(rows.notna(), None), OUTPUT_SCHEMA)


def notes(spark, note_ids):
    return spark.createDataFrame([(n, "text") for n in note_ids], "note_id string, text string")


def test_a_resumed_attempt_infers_only_what_earlier_attempts_did_not_commit(spark, tmp_path):
    store = TableStore(spark, OutputConfig(path=str(tmp_path)))
    corpus = notes(spark, ["a", "b", "c", "d"])
    first = SliceCommits(store, "r", job_attempt=1, notes_per_task=2)
    assert first.committed() is None and first.pending(corpus, "v").count() == 4
    assert first.settings_for_slice(Settings(), 2) == Settings(0)
    first.commit(stage_rows(spark, ["a", "b"], partition_id=1), 0)  # the driver dies after this slice

    second = SliceCommits(store, "r", job_attempt=2, notes_per_task=2)
    assert sorted(r.note_id for r in second.pending(corpus, "v").collect()) == ["c", "d"]
    assert second.pending(corpus, "other").count() == 4  # a cascade's other tier has its own commits
    assert second.resumed_notes() == 2
    assert second.settings_for_slice(Settings(), 2).first_partition == 2  # after partition 1
    assert second.settings_for_slice(Settings(), 2).first_partition == 4
    second.commit(stage_rows(spark, ["c", "d"], partition_id=2), 0)
    rows = second.rows(corpus, "v").collect()
    assert sorted(r.note_id for r in rows) == ["a", "b", "c", "d"]
    assert {r.partition_id for r in rows if r.note_id in "ab"} == {1}  # the first attempt's rows as they were
    assert set(rows[0].asDict()) == set(second.rows(corpus, "v").columns) == {
        c.split()[0] for c in OUTPUT_SCHEMA.split(",")}
    assert second.resumed_notes() == 2 and second.slices(5, 2) == 2 and second.slices(4, 2) == 1


def test_a_slice_is_written_once(spark, tmp_path):
    store = TableStore(spark, OutputConfig(path=str(tmp_path)))
    for _ in range(2):  # the same (run, attempt, slice) version again: Delta skips it
        rows = stage_rows(spark, ["a"]).withColumns({"job_attempt": F.lit(1), "slice": F.lit(0)})
        store.append(INFERENCE_OUTPUTS, rows, "r", 100_001)
    assert store.read(INFERENCE_OUTPUTS).count() == 1


def identity(**changes):
    base = dict(variants="v=m/float32/none", routing="none", corpus="/c.jsonl", prompt_version="1")
    return RunIdentity(**(base | changes))


def test_a_rerun_must_be_the_same_run_and_resume_needs_one(spark, tmp_path):
    store = TableStore(spark, OutputConfig(path=str(tmp_path)))
    with pytest.raises(RunStateError, match="run r does not exist"):
        RunState(store, "r", 1, identity()).begin(resume=True)
    RunState(store, "r", 1, identity()).begin(resume=False)
    row = store.read(RUN_STATUS).first()
    assert (row.status, row.attempts, row.job_attempt) == (RUNNING, 1, 1)
    with pytest.raises(RunStateError, match=r"variants 'v=m/float32/none' \(this run: 'v=m/bfloat16/none'\).*"
                                            r"prompt_version '1' \(this run: '2'\)"):
        RunState(store, "r", 2, identity(variants="v=m/bfloat16/none", prompt_version="2")).begin(resume=True)
    resumed = RunState(store, "r", 3, identity())
    resumed.begin(resume=True)
    resumed.end(COMPLETE, notes_resumed=2)
    row = store.read(RUN_STATUS).first()
    assert (row.status, row.attempts, row.job_attempt, row.notes_resumed) == (COMPLETE, 2, 3, 2)
    RunState(store, "s", 4, identity()).end(FAILED, error="CorpusError")
    assert {r.run_id: r.status for r in store.read(RUN_STATUS).collect()} == {"r": COMPLETE, "s": FAILED}
