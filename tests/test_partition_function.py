import json

import pandas as pd

from tests.fakes import FakeEngine, TraceMeter
from udfs.abstract_partition import OUTPUT_DTYPES, PartitionSettings, abstract_batches
from udfs.energy import EnergyMonitor
from udfs.engine import EngineSpec
from udfs.preprocess import Preprocessing
from udfs.prompts import PromptTemplate
from udfs.task_energy import MeteringSettings
from udfs.task_info import TaskInfo

TASK = TaskInfo(partition_id=3, task_attempt=1, host="h", executor_id="7", pid=42, gpu_addresses=())


def settings(batch_size=None, preprocessing=Preprocessing()):
    return PartitionSettings(
        run_id="r1", variant="v", model="m", engine=EngineSpec(model="m"),
        template=PromptTemplate("t", "sys", "{note_type}: {text}"),
        schema=json.load(open("conf/abstraction_schema.json")),
        max_tokens=64, temperature=0.0, batch_size=batch_size, preprocessing=preprocessing,
        metering=MeteringSettings(sample_interval_s=0.0),
    )


def notes(n):
    return pd.DataFrame({"note_id": [f"n{i}" for i in range(n)], "text": [f"note {i} text" for i in range(n)],
                         "note_type": ["progress_note"] * n})


def run(batches, engine, batch_size=None, preprocessing=Preprocessing()):
    clock = iter(range(0, 1000, 10))
    meter = TraceMeter(clock=lambda: 0.0, energy=lambda t: float(next(clock)))
    monitor = EnergyMonitor([meter], 0.0)
    return list(abstract_batches(iter(batches), settings(batch_size, preprocessing), engine, monitor, TASK))


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


def _medication_output(prompt: str) -> str:
    """The fake model 'finds' the drug named in its chunk, so the merge is visible."""
    drug = "metformin" if "metformin" in prompt else "lisinopril"
    return json.dumps({"problems": ["hypertension"], "medications": [{"name": drug, "dose": ""}],
                       "procedures": [], "allergies": [], "smoking_status": "never" if drug == "metformin" else "unknown"})


def test_a_note_over_the_context_budget_is_chunked_and_its_chunk_outputs_merged():
    long_text = ("HISTORY OF PRESENT ILLNESS: " + "word " * 1500 + "\nMEDICATIONS: metformin 500 mg. "
                 + "PLAN: " + "more " * 1500 + "lisinopril")
    frame = pd.DataFrame({"note_id": ["long", "short"], "text": [long_text, "PLAN: rest"], "note_type": ["x", "x"]})
    engine = FakeEngine(outputs=_medication_output)
    out = pd.concat(run([frame], engine))
    rows = out[out.row_type == "note"].set_index("note_id")
    assert len(engine.calls) == 1 and len(engine.calls[0]) == rows.chunks.sum()  # one generate call for all chunks
    assert rows.loc["long", "chunks"] >= 2 and rows.loc["short", "chunks"] == 1
    assert all(engine.count_tokens(p) <= engine.max_model_len - 64 for p in engine.calls[0])
    long = rows.loc["long"]
    assert long.status == "ok" and not long.input_truncated
    merged = json.loads(long.abstraction)
    assert [m["name"] for m in merged["medications"]] == ["metformin", "lisinopril"]
    assert merged["problems"] == ["hypertension"] and merged["smoking_status"] == "never"
    assert long.output_tokens == 7 * long.chunks and long.cached_prompt_tokens == 3 * long.chunks


def test_without_chunking_a_long_note_is_cut_and_marked_truncated():
    frame = pd.DataFrame({"note_id": ["long"], "text": ["word " * 4000], "note_type": ["x"]})
    out = pd.concat(run([frame], FakeEngine(), preprocessing=Preprocessing(chunk_long_notes=False)))
    [row] = out[out.row_type == "note"].to_dict("records")
    assert (row["chunks"], row["input_truncated"], row["status"]) == (1, True, "truncated")


def test_dropped_sections_never_reach_the_prompt():
    text = "HPI: chest pain.\nANESTHESIA: general endotracheal.\nPLAN: aspirin."
    frame = pd.DataFrame({"note_id": ["n"], "text": [text], "note_type": ["x"]})
    engine = FakeEngine()
    out = pd.concat(run([frame], engine, preprocessing=Preprocessing(drop_sections=frozenset({"ANESTHESIA"}))))
    [prompt] = engine.calls[0]
    assert "endotracheal" not in prompt and "chest pain" in prompt and "aspirin" in prompt
    assert out[out.row_type == "note"].sections_dropped.tolist() == [1]


def test_partition_row_sums_the_prefix_cached_prompt_tokens():
    out = pd.concat(run([notes(4)], FakeEngine()))
    [part] = out[out.row_type == "partition"].to_dict("records")
    assert part["cached_prompt_tokens"] == 4 * 3
