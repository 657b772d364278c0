from datetime import datetime, timezone

import pytest

from notewatt.impact import ImpactFactors
from notewatt.rollup import J_PER_WH, RunInfo, run_rollup, with_note_energy

NOTE_COLS = "partition_id int, note_id string, status string, prompt_tokens long, output_tokens long"
PART_COLS = ("partition_id int, energy_j double, energy_source string, start_ts double, end_ts double, "
             "notes long, prompt_tokens long, output_tokens long, energy_above_idle_j double, "
             "above_idle_available boolean, partial boolean, shared_device boolean")
IMPACT = ImpactFactors(pue=1.2, carbon_intensity_g_per_kwh=400.0, carbon_intensity_source="config",
                       price_per_kwh=0.25, currency="EUR")


@pytest.fixture
def frames(spark):
    notes = spark.createDataFrame(
        [(0, "a", "ok", 10, 30), (0, "b", "ok", 30, 30), (1, "c", "truncated", 20, 80)], NOTE_COLS
    )
    partitions = spark.createDataFrame(
        [(0, 100.0, "nvml_counter", 0.0, 10.0, 2, 40, 60, 60.0, True, False, True),
         (1, 300.0, "estimate", 2.0, 14.0, 1, 20, 80, None, False, True, False)],
        PART_COLS,
    )
    loads = spark.createDataFrame([(50.0,)], "energy_j double")
    return notes, partitions, loads


def test_note_energy_is_its_token_share_of_its_partition(frames):
    notes, partitions, _ = frames
    shares = {r.note_id: r.energy_j for r in with_note_energy(notes, partitions).collect()}
    assert shares == pytest.approx({"a": 40.0, "b": 60.0, "c": 300.0})


def test_rollup_arithmetic(frames):
    notes, partitions, loads = frames
    run = RunInfo("r", "v", "m", datetime(2026, 1, 1, tzinfo=timezone.utc), duration_s=20.0, impact=IMPACT)
    row = run_rollup(notes, partitions, loads, run).first().asDict()
    assert (row["notes"], row["notes_ok"], row["prompt_tokens"], row["output_tokens"]) == (3, 2, 60, 140)
    assert row["energy_wh"] == pytest.approx(400 / J_PER_WH)
    assert row["wh_per_1000_notes"] == pytest.approx(row["energy_wh"] / 3 * 1000)
    assert row["output_tokens_per_joule"] == pytest.approx(140 / 400)
    assert row["total_tokens_per_joule"] == pytest.approx(200 / 400)
    per_partition = sorted([60 / (100 / J_PER_WH), 80 / (300 / J_PER_WH)])
    assert row["tokens_per_wh_p50"] == pytest.approx(sum(per_partition) / 2)
    assert per_partition[0] < row["tokens_per_wh_p95"] <= per_partition[1]
    assert row["energy_status"] == "partly_estimated" and row["energy_sources"] == "estimate,nvml_counter"
    assert row["energy_above_idle_wh"] is None  # one partition had no idle reading
    assert (row["partial_partitions"], row["shared_device_partitions"]) == (1, 1)
    assert row["engine_load_wh"] == pytest.approx(50 / J_PER_WH)
    assert row["notes_per_s"] == pytest.approx(3 / 20) and row["inference_s"] == pytest.approx(14.0)


def test_derived_impact_figures_per_1000_notes(frames):
    notes, partitions, loads = frames
    run = RunInfo("r", "v", "m", datetime(2026, 1, 1, tzinfo=timezone.utc), duration_s=20.0, impact=IMPACT)
    row = run_rollup(notes, partitions, loads, run).first().asDict()
    facility_kwh_per_1000 = 400 / J_PER_WH * 1.2 / 3  # Wh per note = kWh per 1,000 notes
    assert row["facility_wh_per_1000_notes"] == pytest.approx(facility_kwh_per_1000 * 1000)
    assert row["gco2e_per_1000_notes"] == pytest.approx(facility_kwh_per_1000 * 400.0)
    assert row["cost_per_1000_notes"] == pytest.approx(facility_kwh_per_1000 * 0.25)
    assert (row["pue"], row["carbon_intensity_source"], row["currency"]) == (1.2, "config", "EUR")


@pytest.mark.parametrize("sources, status", [(["nvml_counter", "rapl"], "measured"), (["estimate"], "estimated")])
def test_energy_status(spark, sources, status):
    partitions = spark.createDataFrame(
        [(i, 10.0, s, 0.0, 1.0, 1, 1, 1, 5.0, True, False, False) for i, s in enumerate(sources)], PART_COLS
    )
    notes = spark.createDataFrame([(0, "a", "ok", 1, 1)], NOTE_COLS)
    loads = spark.createDataFrame([(1.0,)], "energy_j double")
    no_impact = ImpactFactors(1.0, None, None, None, "USD")
    run = RunInfo("r", "v", "m", datetime(2026, 1, 1, tzinfo=timezone.utc), duration_s=1.0, impact=no_impact)
    row = run_rollup(notes, partitions, loads, run).first().asDict()
    assert row["energy_status"] == status
    assert row["energy_above_idle_wh"] == pytest.approx(5.0 * len(sources) / J_PER_WH)
    assert row["gco2e_per_1000_notes"] is None and row["cost_per_1000_notes"] is None
