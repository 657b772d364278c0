import json
from dataclasses import dataclass

import pandas as pd
import pytest

from tests.fakes import FakeEngine, TraceMeter
from udfs.abstract_partition import OUTPUT_DTYPES, TOKEN_COUNTS, PartitionSettings, abstract_batches
from udfs.energy.monitor import EnergyMonitor, Measurement
from udfs.engine import EngineSpec
from udfs.preprocess import Preprocessing
from udfs.prompts import PromptTemplate
from udfs.energy.task import MeteringSettings
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


@dataclass
class Partition:
    """What abstract_batches gave: its note rows, and what its window told its listener at the end."""

    notes: pd.DataFrame
    window: Measurement
    state: str
    totals: dict


def run(batches, engine, batch_size=None, preprocessing=Preprocessing()) -> Partition:
    clock = iter(range(0, 1000, 10))
    meter = TraceMeter(clock=lambda: 0.0, energy=lambda t: float(next(clock)))
    told, totals = [], dict.fromkeys(TOKEN_COUNTS, 0)
    rows = abstract_batches(iter(batches), settings(batch_size, preprocessing), lambda: engine,
                            EnergyMonitor([meter], 0.0), TASK, lambda m, state: told.append((m, state)), totals)
    frame = pd.concat(list(rows))
    return Partition(frame, *told[-1], totals)


def test_every_note_gets_a_row_with_its_windows_id():
    engine = FakeEngine()
    out = run([notes(5), notes(3)], engine, batch_size=2)
    assert list(out.notes.columns) == list(OUTPUT_DTYPES)
    assert len(out.notes) == 8 and (out.notes.status == "ok").all()
    assert [len(c) for c in engine.calls] == [2, 2, 1, 2, 1]
    assert out.totals["notes"] == 8 and out.totals["output_tokens"] == 8 * 7
    assert out.totals["prompt_tokens"] == out.notes.prompt_tokens.sum()
    assert out.state == "closed" and out.window.energy_j == 10.0 and out.window.sources == ("nvml_counter",)
    assert (out.notes.window_id == out.window.window_id).all()
    assert (out.notes.partition_id == 3).all() and (out.notes.task_attempt == 1).all()
    assert (out.notes.dtype == "float32").all()


def test_default_batch_is_the_whole_arrow_batch():
    engine = FakeEngine()
    run([notes(6)], engine)
    assert [len(c) for c in engine.calls] == [6]


def test_engine_failure_marks_the_batch_error_and_the_partition_goes_on():
    out = run([notes(3)], FakeEngine(fail=True))
    assert (out.notes.status == "error").all() and out.notes.detail.str.contains("RuntimeError").all()
    assert out.state == "closed" and out.totals["notes"] == 3


def test_an_engine_that_raised_is_not_used_again():
    """It used to stay cached in its worker: every later batch there came out `error`, with energy charged."""
    broken, fresh = FakeEngine(fail=True), FakeEngine()
    engines = iter([broken, fresh])
    rows = abstract_batches(iter([notes(2), notes(2)]), settings(batch_size=2), lambda: next(engines),
                            EnergyMonitor([TraceMeter(clock=lambda: 0.0, power=lambda t: 1.0)], 0.0), TASK,
                            first_engine=None)
    first, second = list(rows)
    assert (first.status == "error").all() and (second.status == "ok").all()
    assert len(broken.calls) == 1 and len(fresh.calls) == 1


def test_a_notes_mean_logprob_is_its_output_tokens_summed_log_probability_over_their_count():
    """The cascade's confidence signal (routing.min_mean_logprob): over all of a chunked note's output tokens."""
    confident = run([notes(2)], FakeEngine(logprob=-1.4)).notes  # 7 output tokens each
    assert confident.mean_logprob.tolist() == [pytest.approx(-0.2)] * 2
    assert run([notes(1)], FakeEngine()).notes.mean_logprob.isna().all()  # an engine that gives none: unknown


def test_invalid_output_is_kept_with_its_status():
    note_rows = run([notes(2)], FakeEngine(output="{oops")).notes
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
    rows = run([frame], engine).notes.set_index("note_id")
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
    [row] = run([frame], FakeEngine(), preprocessing=Preprocessing(chunk_long_notes=False)).notes.to_dict("records")
    assert (row["chunks"], row["input_truncated"], row["status"]) == (1, True, "truncated")


def test_dropped_sections_never_reach_the_prompt():
    text = "HPI: chest pain.\nANESTHESIA: general endotracheal.\nPLAN: aspirin."
    frame = pd.DataFrame({"note_id": ["n"], "text": [text], "note_type": ["x"]})
    engine = FakeEngine()
    out = run([frame], engine, preprocessing=Preprocessing(drop_sections=frozenset({"ANESTHESIA"})))
    [prompt] = engine.calls[0]
    assert "endotracheal" not in prompt and "chest pain" in prompt and "aspirin" in prompt
    assert out.notes.sections_dropped.tolist() == [1]


def test_the_window_counts_the_prefix_cached_prompt_tokens():
    assert run([notes(4)], FakeEngine()).totals["cached_prompt_tokens"] == 4 * 3
