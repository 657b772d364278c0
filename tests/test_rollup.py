from datetime import datetime, timezone

import pytest

from notewatt.rollup import J_PER_WH, RunInfo, run_rollup, with_note_energy

NOTE_COLS = "partition_id int, note_id string, status string, prompt_tokens long, output_tokens long"
PART_COLS = ("partition_id int, energy_j double, energy_source string, start_ts double, end_ts double, "
             "notes long, prompt_tokens long, output_tokens long")


@pytest.fixture
def frames(spark):
    notes = spark.createDataFrame(
        [(0, "a", "ok", 10, 30), (0, "b", "ok", 30, 30), (1, "c", "truncated", 20, 80)], NOTE_COLS
    )
    partitions = spark.createDataFrame(
        [(0, 100.0, "nvml_counter", 0.0, 10.0, 2, 40, 60), (1, 300.0, "estimate", 2.0, 14.0, 1, 20, 80)], PART_COLS
    )
    loads = spark.createDataFrame([(50.0,)], "energy_j double")
    return notes, partitions, loads


def test_note_energy_is_its_token_share_of_its_partition(frames):
    notes, partitions, _ = frames
    shares = {r.note_id: r.energy_j for r in with_note_energy(notes, partitions).collect()}
    assert shares == pytest.approx({"a": 40.0, "b": 60.0, "c": 300.0})


def test_rollup_arithmetic(frames):
    notes, partitions, loads = frames
    run = RunInfo("r", "v", "m", datetime(2026, 1, 1, tzinfo=timezone.utc), duration_s=20.0)
    row = run_rollup(notes, partitions, loads, run).first().asDict()
    assert (row["notes"], row["notes_ok"], row["prompt_tokens"], row["output_tokens"]) == (3, 2, 60, 140)
    assert row["energy_wh"] == pytest.approx(400 / J_PER_WH)
    assert row["wh_per_1000_notes"] == pytest.approx(row["energy_wh"] / 3 * 1000)
    assert row["output_tokens_per_joule"] == pytest.approx(140 / 400)
    assert row["total_tokens_per_joule"] == pytest.approx(200 / 400)
    per_partition = sorted([60 / (100 / J_PER_WH), 80 / (300 / J_PER_WH)])
    assert row["tokens_per_wh_p50"] == pytest.approx(sum(per_partition) / 2)
    assert per_partition[0] < row["tokens_per_wh_p95"] <= per_partition[1]
    assert row["energy_measured"] is False and row["energy_sources"] == "estimate,nvml_counter"
    assert row["engine_load_wh"] == pytest.approx(50 / J_PER_WH)
    assert row["notes_per_s"] == pytest.approx(3 / 20) and row["inference_s"] == pytest.approx(14.0)
