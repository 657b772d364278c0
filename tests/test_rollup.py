"""The roll-up from note rows and ledger windows: each figure's arithmetic and label, built the way a run builds them
(ledger entries accounted, turned into the energy tables' frames: notewatt/energy_frames.py)."""

from datetime import datetime, timezone

import pytest

from notewatt.energy_frames import EnergyFrames
from notewatt.impact import ImpactFactors
from notewatt.rollup import RunInfo, route_rows, run_rollup_row, with_note_energy
from notewatt.tables import DEVICE_ENERGY, ENGINE_LOADS, PARTITION_ENERGY
from udfs.energy.accounting import account, device_rows, window_row
from udfs.energy.ledger import CLOSED, ENGINE_LOAD, FAILED, OPEN, PARTITION, WARM_UP, LedgerEntry
from udfs.energy.monitor import DeviceReading, Measurement
from udfs.energy.vocabulary import J_PER_WH

NOTE_COLS = ("partition_id int, note_id string, status string, prompt_tokens long, output_tokens long, "
             "variant string, cache_hit boolean, reused_output_tokens long, cached_prompt_tokens long, dtype string, "
             "window_id string")
def notes_frame(spark, rows, reasons=None):
    """Note rows as the driver has them: each with the reason it was escalated in a cascade (none here unless
    given, by (note_id, variant))."""
    reasons = reasons or {}
    return spark.createDataFrame([(*row, reasons.get((row[1], row[5]))) for row in rows],
                                 f"{NOTE_COLS}, escalation_reason string")


IMPACT = ImpactFactors(pue=1.2, carbon_intensity_g_per_kwh=400.0, carbon_intensity_source="config",
                       price_per_kwh=0.25, currency="EUR")
STARTED = datetime(2026, 1, 1, tzinfo=timezone.utc)


def device(source, energy_j, component="host", scope="process", idle=None, name="cpu", partial=None):
    return DeviceReading(name, name, component, scope, source, energy_j, None, idle, 10, partial_reason=partial)


def window(window_id, *devices, kind=PARTITION, state=CLOSED, start=0.0, end=10.0, variant="v", pid=1, notes=0,
           prompt=0, output=0, cached=0):
    m = Measurement(window_id, start, end, end - start, 0.1, {d.device: d for d in devices})
    return LedgerEntry("r", kind, state, variant, 0, 0, "h", str(pid), pid, m, notes=notes, prompt_tokens=prompt,
                       output_tokens=output, cached_prompt_tokens=cached)


def frames(spark, entries, kept):
    energy = account(entries, kept)
    windows = [*energy.partitions, *energy.loads]
    return EnergyFrames(
        energy, PARTITION_ENERGY.frame(spark, [window_row(e, energy.attributed) for e in energy.partitions]),
        ENGINE_LOADS.frame(spark, [window_row(e, energy.attributed) for e in energy.loads]),
        DEVICE_ENERGY.frame(spark, [r for e in windows for r in device_rows(e, energy.attributed)]))


def run_info(energy, duration_s=20.0, impact=IMPACT, **kwargs):
    return RunInfo("r", "v", "m", STARTED, duration_s, impact, energy, **kwargs)


P0 = window("p0", device("nvml_counter", 100.0, "gpu", "device", idle=4.0, name="GPU-a"), start=0.0, end=10.0,
            notes=2, prompt=40, output=60, cached=10, pid=7)
P1 = window("p1", device("estimate", 300.0, partial="cpu: the final reading failed"), start=2.0, end=14.0, notes=1,
            prompt=20, output=80, pid=8)
LOADS = [window("import", device("estimate", 30.0), kind=WARM_UP, end=6.0, pid=7),
         window("load-7", device("estimate", 20.0), kind=ENGINE_LOAD, start=6.0, end=8.5, pid=7),
         window("load-8", device("estimate", 10.0), kind=ENGINE_LOAD, end=4.0, pid=8)]


@pytest.fixture
def run(spark):
    """Three notes in two partitions (one partial), a warmed worker and a plain one, and a discarded attempt."""
    discarded = window("failed", device("rapl", 200.0, scope="device"), state=FAILED, pid=9)
    energy = frames(spark, [P0, P1, *LOADS, discarded], {"p0", "p1"})
    notes = notes_frame(spark, [
        (0, "a", "ok", 10, 30, "v", False, 0, 5, "bfloat16", "p0"), (0, "b", "ok", 30, 30, "v", False, 0, 5, "bfloat16", "p0"),
        (1, "c", "truncated", 20, 80, "v", False, 0, 0, "bfloat16", "p1")])
    return notes, energy


def test_note_energy_is_its_token_share_of_its_window(run):
    notes, energy = run
    shares = {r.note_id: r.energy_j for r in with_note_energy(notes, energy.partitions).collect()}
    assert shares == pytest.approx({"a": 40.0, "b": 60.0, "c": 300.0})


def test_rollup_arithmetic(run):
    notes, energy = run
    row = run_rollup_row(notes, energy.partitions, energy.loads, run_info(energy.energy))
    assert (row["notes"], row["notes_ok"], row["prompt_tokens"], row["output_tokens"]) == (3, 2, 60, 140)
    assert row["energy_wh"] == pytest.approx(400 / J_PER_WH)
    assert row["wh_per_1000_notes"] == pytest.approx(row["energy_wh"] / 3 * 1000)
    assert row["output_tokens_per_joule"] == pytest.approx(140 / 400)
    assert row["total_tokens_per_joule"] == pytest.approx(200 / 400)
    per_partition = sorted([60 / (100 / J_PER_WH), 80 / (300 / J_PER_WH)])
    assert row["tokens_per_wh_p50"] == pytest.approx(sum(per_partition) / 2)
    assert per_partition[0] <= row["tokens_per_wh_p5"] < row["tokens_per_wh_p50"] < row["tokens_per_wh_p95"]
    assert row["measured_share"] == pytest.approx(100 / 400)
    assert (row["gpu_energy_wh"], row["host_energy_wh"]) == pytest.approx((100 / J_PER_WH, 300 / J_PER_WH))
    assert (row["retry_energy_j"], row["retry_windows"], row["retry_energy_status"]) == (200.0, 1, "measured")
    assert row["wh_per_1000_notes_incl_retries"] == pytest.approx(600 / J_PER_WH / 3 * 1000)
    assert row["engine_load_status"] == "estimated"  # the loads' own sources label them
    assert (row["unreported_warm_ups"], row["engine_load_unfinished_windows"]) == (0, 0)
    assert row["energy_above_idle_wh"] is None  # one partition had no idle reading
    assert row["partial_partitions"] == 1
    assert row["engine_load_wh"] == pytest.approx(60 / J_PER_WH) and row["engine_load_s"] == 8.5  # longest worker
    assert row["notes_per_s"] == pytest.approx(3 / 20) and row["inference_s"] == pytest.approx(14.0)
    assert (row["notes_reused"], row["cache_hit_rate"], row["energy_avoided_wh"]) == (0, 0.0, 0.0)
    assert row["prefix_cache_hit_rate"] == pytest.approx(10 / 60)
    assert row["dtype"] == "bfloat16"  # what the engines computed in


def test_a_partial_window_makes_the_run_incomplete_with_its_reason(run):
    """It used to be labelled by its sources alone: partly estimated, as if all its energy were there."""
    notes, energy = run
    row = run_rollup_row(notes, energy.partitions, energy.loads, run_info(energy.energy))
    assert row["energy_status"] == "incomplete" and row["energy_sources"] == "estimate,nvml_counter"
    assert row["energy_status_reason"] == "cpu: the final reading failed"


def test_the_all_in_figure_adds_engine_loads_the_spark_nlp_stage_and_discarded_attempts(run):
    notes, energy = run
    row = run_rollup_row(notes, energy.partitions, energy.loads,
                         run_info(energy.energy, preprocess_s=5.0, preprocess_energy_j=40.0))
    assert row["wh_per_1000_notes_all_in"] == pytest.approx((400 + 60 + 40 + 200) / J_PER_WH / 3 * 1000)
    assert row["wh_per_1000_notes"] == pytest.approx(400 / J_PER_WH / 3 * 1000)  # the notes' own, unchanged


def test_a_spark_nlp_stage_of_unknown_energy_leaves_the_all_in_figure_unknown_not_smaller(run):
    """Its energy is None where Spark's REST API gave no CPU time: counted as 0 J, the all-in figure was a lower
    bound that did not say so."""
    notes, energy = run
    row = run_rollup_row(notes, energy.partitions, energy.loads, run_info(energy.energy, preprocess_s=5.0))
    assert row["wh_per_1000_notes_all_in"] is None and row["wh_per_1000_notes"] is not None


def test_reused_notes_cost_nothing_and_the_avoided_energy_is_estimated_at_the_runs_rate(run, spark):
    notes, energy = run
    reused = notes_frame(spark, [(None, "d", "ok", 0, 0, "v", True, 70, 0, None, None)])
    row = run_rollup_row(notes.unionByName(reused), energy.partitions, energy.loads, run_info(energy.energy))
    assert (row["notes"], row["notes_reused"], row["cache_hit_rate"]) == (4, 1, 0.25)
    assert row["energy_wh"] == pytest.approx(400 / J_PER_WH)  # unchanged: the reused note generated nothing
    assert row["wh_per_1000_notes"] == pytest.approx(400 / J_PER_WH / 4 * 1000)
    assert row["energy_avoided_wh"] == pytest.approx(70 * (400 / 140) / J_PER_WH)
    assert row["dtype"] == "bfloat16"  # a reused note was computed by no engine of this run


def test_a_run_where_every_note_was_reused_has_no_inference_energy(spark):
    energy = frames(spark, [], set())
    notes = notes_frame(spark, [(None, "d", "ok", 0, 0, "v", True, 70, 0, None, None)])
    row = run_rollup_row(notes, energy.partitions, energy.loads, run_info(energy.energy, duration_s=2.0))
    assert (row["energy_status"], row["energy_wh"], row["wh_per_1000_notes"]) == ("no_inference", 0.0, 0.0)
    assert row["output_tokens_per_joule"] is None and row["energy_avoided_wh"] is None
    assert row["engine_load_status"] is None and row["dtype"] is None  # no engine loaded


def test_a_window_of_0_j_gives_no_tokens_per_wh_instead_of_failing_the_run(spark):
    """A 0 J partition divided by zero under Spark 4's ANSI mode (rollup.py used `/` where the rest used
    try_divide)."""
    zero = window("z", device("estimate", 0.0), notes=1, prompt=5, output=5)
    energy = frames(spark, [zero], {"z"})
    notes = notes_frame(spark, [(0, "a", "ok", 5, 5, "v", False, 0, 0, "bfloat16", "z")])
    row = run_rollup_row(notes, energy.partitions, energy.loads, run_info(energy.energy))
    assert row["tokens_per_wh_p50"] is None and row["output_tokens_per_joule"] is None


def test_route_rollup_gives_each_variant_its_own_energy_and_status(spark):
    entries = [
        window("s0", device("estimate", 36.0), variant="small", end=1.0, notes=1, prompt=10, output=30),
        window("l0", device("nvml_counter", 54.0, "gpu", "device", name="GPU-a"), device("estimate", 18.0),
               variant="large", end=1.0, notes=1, prompt=30, output=50),
        window("l1", device("estimate", 72.0), variant="large", start=2.0, end=3.0, notes=1, prompt=30, output=50),
    ]
    energy = frames(spark, entries, {"s0", "l0", "l1"})
    notes = notes_frame(spark, [
        (0, "a", "ok", 10, 30, "small", False, 0, 0, "float32", "s0"),
        (0, "b", "ok", 30, 50, "large", False, 0, 0, "bfloat16", "l0"),
        (1, "c", "ok", 30, 50, "large", False, 0, 0, "bfloat16", "l1")])
    by_route = {r["variant"]: r for r in route_rows(notes, energy.partitions, "r", energy.energy)}
    assert by_route["small"]["wh_per_1000_notes"] == pytest.approx(36 / J_PER_WH * 1000)
    assert by_route["large"]["wh_per_1000_notes"] == pytest.approx(144 / J_PER_WH / 2 * 1000)
    assert by_route["large"]["output_tokens_per_joule"] == pytest.approx(100 / 144)
    assert (by_route["small"]["energy_status"], by_route["large"]["energy_status"]) == ("estimated", "partly_estimated")
    assert (by_route["small"]["measured_share"], by_route["large"]["measured_share"]) == (0.0, pytest.approx(54 / 144))
    assert (by_route["small"]["dtype"], by_route["large"]["dtype"]) == ("float32", "bfloat16")
    assert (by_route["small"]["escalated_notes"], by_route["small"]["escalation_rate"]) == (0, 0.0)  # a static rule


def test_a_cascades_small_tier_says_how_many_of_its_notes_it_escalated(spark):
    """route_rollup counts a cascade's passes: the small tier saw every note, the large one the escalated."""
    entries = [window("s0", device("estimate", 40.0), variant="small", notes=2, prompt=40, output=40),
               window("l0", device("estimate", 90.0), variant="large", notes=1, prompt=20, output=30)]
    energy = frames(spark, entries, {"s0", "l0"})
    passes = notes_frame(spark, [(0, "a", "ok", 20, 20, "small", False, 0, 0, "float32", "s0"),
                                 (0, "b", "invalid_json", 20, 20, "small", False, 0, 0, "float32", "s0"),
                                 (0, "b", "ok", 20, 30, "large", False, 0, 0, "float32", "l0")],
                         reasons={("b", "small"): "status invalid_json"})
    by_route = {r["variant"]: r for r in route_rows(passes, energy.partitions, "r", energy.energy)}
    assert (by_route["small"]["notes"], by_route["small"]["escalated_notes"], by_route["small"]["escalation_rate"]) == (
        2, 1, 0.5)
    assert (by_route["large"]["notes"], by_route["large"]["escalated_notes"]) == (1, 0)
    assert by_route["large"]["wh_per_1000_notes"] == pytest.approx(90 / J_PER_WH * 1000)


def test_derived_impact_figures_per_1000_notes(run):
    notes, energy = run
    row = run_rollup_row(notes, energy.partitions, energy.loads, run_info(energy.energy))
    facility_kwh_per_1000 = 400 / J_PER_WH * 1.2 / 3  # Wh per note = kWh per 1,000 notes
    assert row["facility_wh_per_1000_notes"] == pytest.approx(facility_kwh_per_1000 * 1000)
    assert row["gco2e_per_1000_notes"] == pytest.approx(facility_kwh_per_1000 * 400.0)
    assert row["cost_per_1000_notes"] == pytest.approx(facility_kwh_per_1000 * 0.25)
    assert (row["pue"], row["carbon_intensity_source"], row["currency"]) == (1.2, "config", "EUR")


@pytest.mark.parametrize("sources, status", [
    ([["nvml_counter"], ["rapl"]], "measured"),
    ([["estimate"]], "estimated"),
    ([["estimate", "nvml_counter"], ["estimate", "nvml_counter"]], "partly_estimated"),  # GPUs beside a host estimate
    ([["estimate", "nvml_counter"], ["estimate"]], "partly_estimated"),  # one task's GPU could not be read
])
def test_energy_status_and_measured_share(spark, sources, status):
    entries = [window(f"w{i}", *[device(s, 5.0, "gpu" if s == "nvml_counter" else "host", name=f"{s}-{i}")
                                for s in names], start=10.0 * i, end=10.0 * i + 1, notes=1, prompt=1, output=1)
               for i, names in enumerate(sources)]
    energy = frames(spark, entries, {e.window_id for e in entries})
    notes = notes_frame(spark, [(0, "a", "ok", 1, 1, "v", False, 0, 0, "bfloat16", "w0")])
    no_impact = ImpactFactors(1.0, None, None, None, "USD")
    row = run_rollup_row(notes, energy.partitions, energy.loads, run_info(energy.energy, 1.0, no_impact))
    assert row["energy_status"] == status and row["energy_status_reason"] is None
    assert row["energy_sources"] == ",".join(sorted({s for names in sources for s in names}))  # each source once
    measured = sum(5.0 for names in sources for s in names if s != "estimate")
    assert row["measured_share"] == pytest.approx(measured / (5.0 * sum(len(n) for n in sources)))
    assert row["gco2e_per_1000_notes"] is None and row["cost_per_1000_notes"] is None


def test_warm_ups_of_idle_workers_are_engine_load_energy_not_retries(spark):
    importing = window("importing", device("rapl", 15.0, scope="device", name="cpu"), kind=WARM_UP, state=OPEN,
                       pid=5)
    idle = window("idle", device("rapl", 25.0, scope="device", name="cpu"), kind=WARM_UP, start=20.0, end=30.0, pid=6)
    energy = frames(spark, [P0, *LOADS, importing, idle], {"p0"})
    notes = notes_frame(spark, [(0, "a", "ok", 40, 60, "v", False, 0, 0, "bfloat16", "p0")])
    row = run_rollup_row(notes, energy.partitions, energy.loads, run_info(energy.energy))
    assert (row["unreported_warm_ups"], row["engine_load_unfinished_windows"]) == (2, 1)  # workers 5 and 6
    assert row["engine_load_status"] == "partly_estimated"  # their RAPL beside the other loads' estimate
    assert (row["retry_energy_j"], row["retry_windows"]) == (0.0, 0)
    assert row["wh_per_1000_notes"] == pytest.approx(100 / J_PER_WH * 1000)  # not charged to notes


def test_a_ledger_that_could_not_be_read_leaves_every_energy_figure_unknown(spark):
    energy = frames(spark, [], set())
    unread = type(energy.energy)(readable=False)
    notes = notes_frame(spark, [(0, "a", "ok", 1, 1, "v", False, 0, 0, "bfloat16", "p0")])
    row = run_rollup_row(notes, energy.partitions, energy.loads, run_info(unread))
    assert row["energy_status"] == "incomplete" and "could not be read" in row["energy_status_reason"]
    assert row["retry_energy_j"] is None and row["engine_load_wh"] is None and row["wh_per_1000_notes_all_in"] is None


def test_a_load_window_with_no_reading_yet_makes_a_valid_frame(spark):
    """A warm-up still importing, read before its first heartbeat, has no device reading: 0 J as a float (Spark 3.5
    refuses an int in a double column)."""
    opened = window("importing", kind=WARM_UP, state=OPEN)
    [row] = frames(spark, [opened], set()).loads.collect()
    assert (row.energy_j, row.device_reading_j, row.energy_source) == (0.0, 0.0, "no_reading")
