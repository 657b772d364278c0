import json

import pandas as pd

from tests.fakes import FakeEngine, TraceMeter
from udfs.abstract_partition import OUTPUT_DTYPES, PartitionSettings, abstract_batches
from udfs.energy import EnergyMonitor
from udfs.engine import EngineSpec
from udfs.prompts import PromptTemplate
from udfs.task_info import TaskInfo

TASK = TaskInfo(partition_id=3, task_attempt=1, host="h", executor_id="7", pid=42, gpu_addresses=())


def settings(batch_size=None):
    return PartitionSettings(
        run_id="r1", variant="v", model="m", engine=EngineSpec(model="m"),
        template=PromptTemplate("t", "sys", "{note_type}: {text}"),
        schema=json.load(open("conf/abstraction_schema.json")),
        max_tokens=64, temperature=0.0, batch_size=batch_size, sample_interval_s=0.0, cpu_watts_per_core=10.0,
        dram_watts_per_gib=0.375,
    )


def notes(n):
    return pd.DataFrame({"note_id": [f"n{i}" for i in range(n)], "text": [f"note {i} text" for i in range(n)],
                         "note_type": ["progress_note"] * n})


def run(batches, engine, batch_size=None):
    clock = iter(range(0, 1000, 10))
    meter = TraceMeter(clock=lambda: 0.0, energy=lambda t: float(next(clock)))
    return list(abstract_batches(iter(batches), settings(batch_size), engine, EnergyMonitor([meter], 0.0), TASK))


def test_every_note_gets_a_row_then_one_partition_row():
    engine = FakeEngine()
    frames = run([notes(5), notes(3)], engine, batch_size=2)
    out = pd.concat(frames)
    assert list(out.columns) == list(OUTPUT_DTYPES)
    note_rows, part_rows = out[out.row_type == "note"], out[out.row_type == "partition"]
    assert len(note_rows) == 8 and (note_rows.status == "ok").all()
    assert [len(c) for c in engine.calls] == [2, 2, 1, 2, 1]
    [part] = part_rows.to_dict("records")
    assert part["notes"] == 8 and part["output_tokens"] == 8 * 7
    assert part["prompt_tokens"] == note_rows.prompt_tokens.sum()
    assert part["energy_j"] == 10.0 and part["energy_source"] == "nvml_counter"
    assert (out.partition_id == 3).all() and (out.task_attempt == 1).all()
    [device] = out[out.row_type == "device"].to_dict("records")
    assert device["window"] == "partition" and device["window_id"] == part["window_id"]
    assert device["energy_j"] == 10.0 and device["device"] == "fake-gpu" and device["scope"] == "device"


def test_default_batch_is_the_whole_arrow_batch():
    engine = FakeEngine()
    run([notes(6)], engine)
    assert [len(c) for c in engine.calls] == [6]


def test_engine_failure_marks_the_batch_error_and_the_partition_goes_on():
    out = pd.concat(run([notes(3)], FakeEngine(fail=True)))
    note_rows = out[out.row_type == "note"]
    assert (note_rows.status == "error").all() and note_rows.detail.str.contains("RuntimeError").all()
    assert (out.row_type == "partition").sum() == 1


def test_invalid_output_is_kept_with_its_status():
    out = pd.concat(run([notes(2)], FakeEngine(output="{oops")))
    note_rows = out[out.row_type == "note"]
    assert (note_rows.status == "invalid_json").all() and (note_rows.abstraction == "{oops").all()
