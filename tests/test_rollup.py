from dataclasses import replace
from datetime import datetime, timezone

import pytest

from notewatt.energy.ledger_account import LedgerAccount, RetryEnergy, UnreportedWarmUps
from notewatt.energy.vocabulary import J_PER_WH
from notewatt.impact import ImpactFactors
from notewatt.rollup import RunInfo, route_rows, run_rollup_row, with_note_energy

NOTE_COLS = ("partition_id int, note_id string, status string, prompt_tokens long, output_tokens long, "
             "variant string, cache_hit boolean, reused_output_tokens long, cached_prompt_tokens long, dtype string")
PART_COLS = ("variant string, partition_id int, energy_j double, energy_source string, start_ts double, end_ts double, "
             "notes long, prompt_tokens long, output_tokens long, energy_above_idle_j double, "
             "above_idle_available boolean, partial boolean, shared_device boolean, gpu_energy_j double, "
             "host_energy_j double, measured_share double")
LOAD_COLS = "executor_id string, pid int, energy_j double, duration_s double, energy_source string"
IMPACT = ImpactFactors(pue=1.2, carbon_intensity_g_per_kwh=400.0, carbon_intensity_source="config",
                       price_per_kwh=0.25, currency="EUR")


@pytest.fixture
def frames(spark):
    notes = spark.createDataFrame(
        [(0, "a", "ok", 10, 30, "v", False, 0, 5, "bfloat16"), (0, "b", "ok", 30, 30, "v", False, 0, 5, "bfloat16"),
         (1, "c", "truncated", 20, 80, "v", False, 0, 0, "bfloat16")], NOTE_COLS
    )
    partitions = spark.createDataFrame(
        [("v", 0, 100.0, "nvml_counter", 0.0, 10.0, 2, 40, 60, 60.0, True, False, True, 100.0, 0.0, 1.0),
         ("v", 1, 300.0, "estimate", 2.0, 14.0, 1, 20, 80, None, False, True, False, 0.0, 300.0, 0.0)],
        PART_COLS,
    )
    loads = spark.createDataFrame(  # worker 7 was warmed up: its vLLM import and its model load are two windows
        [("0", 7, 30.0, 6.0, "estimate"), ("0", 7, 20.0, 2.5, "estimate"), ("1", 8, 10.0, 4.0, "estimate")],
        LOAD_COLS)
    return notes, partitions, loads


def test_note_energy_is_its_token_share_of_its_partition(frames):
    notes, partitions, _ = frames
    shares = {r.note_id: r.energy_j for r in with_note_energy(notes, partitions).collect()}
    assert shares == pytest.approx({"a": 40.0, "b": 60.0, "c": 300.0})


def test_rollup_arithmetic(frames):
    notes, partitions, loads = frames
    run = RunInfo("r", "v", "m", datetime(2026, 1, 1, tzinfo=timezone.utc), duration_s=20.0, impact=IMPACT)
    row = run_rollup_row(notes, partitions, loads, run)
    assert (row["notes"], row["notes_ok"], row["prompt_tokens"], row["output_tokens"]) == (3, 2, 60, 140)
    assert row["energy_wh"] == pytest.approx(400 / J_PER_WH)
    assert row["wh_per_1000_notes"] == pytest.approx(row["energy_wh"] / 3 * 1000)
    assert row["output_tokens_per_joule"] == pytest.approx(140 / 400)
    assert row["total_tokens_per_joule"] == pytest.approx(200 / 400)
    per_partition = sorted([60 / (100 / J_PER_WH), 80 / (300 / J_PER_WH)])
    assert row["tokens_per_wh_p50"] == pytest.approx(sum(per_partition) / 2)
    assert per_partition[0] < row["tokens_per_wh_p95"] <= per_partition[1]
    assert row["energy_status"] == "partly_estimated" and row["energy_sources"] == "estimate,nvml_counter"
    assert row["measured_share"] == pytest.approx(100 / 400)
    assert (row["gpu_energy_wh"], row["host_energy_wh"]) == pytest.approx((100 / J_PER_WH, 300 / J_PER_WH))
    assert (row["retry_energy_j"], row["retry_windows"], row["retry_energy_status"]) == (0.0, 0, None)
    assert row["engine_load_status"] == "estimated"  # the loads' own sources label them
    assert (row["unreported_warm_ups"], row["engine_load_unfinished_windows"]) == (0, 0)
    assert row["wh_per_1000_notes_incl_retries"] == pytest.approx(row["wh_per_1000_notes"])
    assert row["energy_above_idle_wh"] is None  # one partition had no idle reading
    assert (row["partial_partitions"], row["shared_device_partitions"]) == (1, 1)
    assert row["engine_load_wh"] == pytest.approx(60 / J_PER_WH) and row["engine_load_s"] == 8.5  # longest worker
    assert row["notes_per_s"] == pytest.approx(3 / 20) and row["inference_s"] == pytest.approx(14.0)
    assert (row["notes_reused"], row["cache_hit_rate"], row["energy_avoided_wh"]) == (0, 0.0, 0.0)
    assert row["prefix_cache_hit_rate"] == pytest.approx(10 / 60)
    assert row["dtype"] == "bfloat16"  # what the engines computed in


def test_reused_notes_cost_nothing_and_the_avoided_energy_is_estimated_at_the_runs_rate(frames, spark):
    notes, partitions, loads = frames
    reused = spark.createDataFrame([(None, "d", "ok", 0, 0, "v", True, 70, 0, None)], NOTE_COLS)
    run = RunInfo("r", "v", "m", datetime(2026, 1, 1, tzinfo=timezone.utc), duration_s=20.0, impact=IMPACT)
    row = run_rollup_row(notes.unionByName(reused), partitions, loads, run)
    assert (row["notes"], row["notes_reused"], row["cache_hit_rate"]) == (4, 1, 0.25)
    assert row["energy_wh"] == pytest.approx(400 / J_PER_WH)  # unchanged: the reused note generated nothing
    assert row["wh_per_1000_notes"] == pytest.approx(400 / J_PER_WH / 4 * 1000)
    assert row["energy_avoided_wh"] == pytest.approx(70 * (400 / 140) / J_PER_WH)
    assert row["dtype"] == "bfloat16"  # a reused note was computed by no engine of this run


def test_a_run_where_every_note_was_reused_has_no_inference_energy(frames, spark):
    _, partitions, loads = frames
    notes = spark.createDataFrame([(None, "d", "ok", 0, 0, "v", True, 70, 0, None)], NOTE_COLS)
    run = RunInfo("r", "v", "m", datetime(2026, 1, 1, tzinfo=timezone.utc), duration_s=2.0, impact=IMPACT)
    row = run_rollup_row(notes, partitions.limit(0), loads.limit(0), run)
    assert (row["energy_status"], row["energy_wh"], row["wh_per_1000_notes"]) == ("no_inference", 0.0, 0.0)
    assert row["output_tokens_per_joule"] is None and row["energy_avoided_wh"] is None
    assert row["engine_load_status"] is None and row["dtype"] is None  # no engine loaded


def test_route_rollup_gives_each_variant_its_own_energy_and_notes(spark):
    notes = spark.createDataFrame(
        [(0, "a", "ok", 10, 30, "small", False, 0, 0, "float32"), (0, "b", "ok", 30, 50, "large", False, 0, 0, "bfloat16"),
         (1, "c", "ok", 30, 50, "large", False, 0, 0, "bfloat16")], NOTE_COLS
    )
    partitions = spark.createDataFrame(
        [("small", 0, 36.0, "estimate", 0.0, 1.0, 1, 10, 30, None, False, False, False, 0.0, 36.0, 0.0),
         ("large", 0, 72.0, "estimate,nvml_counter", 0.0, 1.0, 1, 30, 50, None, False, False, False, 54.0, 18.0, 0.75),
         ("large", 1, 72.0, "estimate", 0.0, 1.0, 1, 30, 50, None, False, False, False, 0.0, 72.0, 0.0)], PART_COLS
    )
    by_route = {r["variant"]: r for r in route_rows(notes, partitions, "r")}
    assert by_route["small"]["wh_per_1000_notes"] == pytest.approx(36 / J_PER_WH * 1000)
    assert by_route["large"]["wh_per_1000_notes"] == pytest.approx(144 / J_PER_WH / 2 * 1000)
    assert by_route["large"]["output_tokens_per_joule"] == pytest.approx(100 / 144)
    assert (by_route["small"]["energy_status"], by_route["large"]["energy_status"]) == ("estimated", "partly_estimated")
    assert (by_route["small"]["measured_share"], by_route["large"]["measured_share"]) == (0.0, pytest.approx(54 / 144))
    assert (by_route["small"]["dtype"], by_route["large"]["dtype"]) == ("float32", "bfloat16")


def test_derived_impact_figures_per_1000_notes(frames):
    notes, partitions, loads = frames
    run = RunInfo("r", "v", "m", datetime(2026, 1, 1, tzinfo=timezone.utc), duration_s=20.0, impact=IMPACT)
    row = run_rollup_row(notes, partitions, loads, run)
    facility_kwh_per_1000 = 400 / J_PER_WH * 1.2 / 3  # Wh per note = kWh per 1,000 notes
    assert row["facility_wh_per_1000_notes"] == pytest.approx(facility_kwh_per_1000 * 1000)
    assert row["gco2e_per_1000_notes"] == pytest.approx(facility_kwh_per_1000 * 400.0)
    assert row["cost_per_1000_notes"] == pytest.approx(facility_kwh_per_1000 * 0.25)
    assert (row["pue"], row["carbon_intensity_source"], row["currency"]) == (1.2, "config", "EUR")


@pytest.mark.parametrize("sources, shares, status", [
    (["nvml_counter", "rapl"], [1.0, 1.0], "measured"),
    (["estimate"], [0.0], "estimated"),
    (["estimate,nvml_counter", "estimate,nvml_counter"], [0.8, 0.8], "partly_estimated"),  # GPUs beside an estimated host
    (["estimate,nvml_counter", "estimate"], [0.8, 0.0], "partly_estimated"),  # one task's GPU could not be read
])
def test_energy_status_and_measured_share(spark, sources, shares, status):
    partitions = spark.createDataFrame(
        [("v", i, 10.0, s, 0.0, 1.0, 1, 1, 1, 5.0, True, False, False, 10.0 * m, 10.0 * (1 - m), m)
         for i, (s, m) in enumerate(zip(sources, shares))], PART_COLS
    )
    notes = spark.createDataFrame([(0, "a", "ok", 1, 1, "v", False, 0, 0, "bfloat16")], NOTE_COLS)
    loads = spark.createDataFrame([("0", 7, 1.0, 2.0, "estimate")], LOAD_COLS)
    no_impact = ImpactFactors(1.0, None, None, None, "USD")
    run = RunInfo("r", "v", "m", datetime(2026, 1, 1, tzinfo=timezone.utc), duration_s=1.0, impact=no_impact)
    row = run_rollup_row(notes, partitions, loads, run)
    assert row["energy_status"] == status
    assert row["energy_sources"] == ",".join(sorted({n for s in sources for n in s.split(",")}))  # each source once
    assert row["measured_share"] == pytest.approx(sum(shares) / len(shares))
    assert row["energy_above_idle_wh"] == pytest.approx(5.0 * len(sources) / J_PER_WH)
    assert row["gco2e_per_1000_notes"] is None and row["cost_per_1000_notes"] is None


def test_retried_attempts_energy_is_reported_but_not_charged_to_notes(frames):
    notes, partitions, loads = frames
    run = RunInfo("r", "v", "m", datetime(2026, 1, 1, tzinfo=timezone.utc), duration_s=20.0, impact=IMPACT,
                  ledger=LedgerAccount(RetryEnergy(200.0, 1, 1, "measured")))
    row = run_rollup_row(notes, partitions, loads, run)
    assert (row["retry_energy_j"], row["retry_windows"]) == (200.0, 1)
    assert (row["retry_unfinished_windows"], row["retry_energy_status"]) == (1, "measured")
    assert row["wh_per_1000_notes"] == pytest.approx(400 / J_PER_WH / 3 * 1000)
    assert row["wh_per_1000_notes_incl_retries"] == pytest.approx(600 / J_PER_WH / 3 * 1000)
    unknown = replace(run, ledger=LedgerAccount(RetryEnergy(None, None)))
    row = run_rollup_row(notes, partitions, loads, unknown)
    assert row["retry_energy_j"] is None and row["wh_per_1000_notes_incl_retries"] is None


def test_unreported_warm_ups_are_engine_load_energy_not_retries(frames):
    notes, partitions, loads = frames
    warm_ups = UnreportedWarmUps(40.0, 2, 1, ("rapl", "rapl"))  # two warmed workers ran no partition, one still importing
    run = RunInfo("r", "v", "m", datetime(2026, 1, 1, tzinfo=timezone.utc), duration_s=20.0, impact=IMPACT,
                  ledger=LedgerAccount(warm_ups=warm_ups))
    row = run_rollup_row(notes, partitions, loads, run)
    assert row["engine_load_wh"] == pytest.approx((60 + 40) / J_PER_WH) and row["engine_load_s"] == 8.5
    assert (row["unreported_warm_ups"], row["engine_load_unfinished_windows"]) == (2, 1)
    assert row["engine_load_status"] == "partly_estimated"  # the warm-ups' RAPL beside the kept loads' estimate
    assert (row["retry_energy_j"], row["retry_windows"]) == (0.0, 0)
    assert row["wh_per_1000_notes"] == pytest.approx(400 / J_PER_WH / 3 * 1000)  # not charged to notes
    unknown = replace(run, ledger=LedgerAccount(RetryEnergy(None, None), UnreportedWarmUps(None, None, None)))
    assert run_rollup_row(notes, partitions, loads, unknown)["engine_load_wh"] is None
