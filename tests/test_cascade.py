"""The cascade (notewatt/cascade.py) and its calibration (notewatt/cascade_calibration.py): which small outputs are
escalated, a note's final row and cost over both passes, and a threshold chosen on one half of the notes and
reported on the other."""

import pandas as pd
import pytest

from notewatt.cascade import escalation_reason, final_rows
from notewatt.cascade_calibration import CALIBRATION, REPORT, calibrate, half_of, replay
from notewatt.config import ConfigError, RoutingConfig, load_config
from notewatt.routing import route_notes

PASS_COLS = ("note_id string, variant string, status string, mean_logprob double, energy_j double, "
             "energy_source string, prompt_tokens long, output_tokens long, cached_prompt_tokens long, "
             "abstraction string, escalation_reason string")


def test_every_note_starts_on_the_small_tier(spark):
    notes = spark.createDataFrame([("a", "x" * 9000), ("b", "x")], "note_id string, text string")
    routed = route_notes(notes, RoutingConfig(mode="cascade", small_variant="small"), "large")
    assert {r.variant for r in routed.collect()} == {"small"}


def test_a_failed_or_unconfident_small_output_is_escalated_with_its_reason(spark):
    rows = spark.createDataFrame([("ok-sure", "ok", -0.05), ("ok-unsure", "ok", -0.9), ("bad", "invalid_json", -0.01),
                                  ("cut", "truncated", None), ("ok-unknown", "ok", None)],
                                 "note_id string, status string, mean_logprob double")
    reasons = lambda routing: {r.note_id: r.reason for r in rows.select(  # noqa: E731
        "note_id", escalation_reason(routing).alias("reason")).collect()}
    assert reasons(RoutingConfig(mode="cascade", small_variant="s")) == {
        "ok-sure": None, "ok-unsure": None, "bad": "status invalid_json", "cut": "status truncated", "ok-unknown": None}
    assert reasons(RoutingConfig(mode="cascade", small_variant="s", min_mean_logprob=-0.5)) == {
        "ok-sure": None, "ok-unsure": "low confidence", "bad": "status invalid_json", "cut": "status truncated",
        "ok-unknown": None}


def test_an_escalated_notes_row_is_the_large_output_with_both_passes_energy_and_tokens(spark):
    passes = spark.createDataFrame([
        ("kept", "small", "ok", -0.1, 2.0, "estimate", 100, 20, 10, '{"s":1}', None),
        ("up", "small", "invalid_json", -0.7, 3.0, "estimate", 120, 30, 10, "{oops", "status invalid_json"),
        ("up", "large", "ok", -0.2, 9.0, "estimate", 120, 25, 0, '{"l":1}', None),
    ], PASS_COLS)
    rows = {r.note_id: r for r in final_rows(passes, "large").collect()}
    assert set(rows) == {"kept", "up"}  # one row per note
    kept, up = rows["kept"], rows["up"]
    assert (kept.variant, kept.escalated, kept.escalation_reason, kept.energy_j) == ("small", False, None, 2.0)
    assert (up.variant, up.abstraction, up.status, up.mean_logprob) == ("large", '{"l":1}', "ok", -0.2)
    assert (up.escalated, up.escalation_reason, up.energy_j) == (True, "status invalid_json", 12.0)
    assert (up.prompt_tokens, up.output_tokens, up.cached_prompt_tokens) == (240, 55, 10)
    assert (kept.energy_source, up.energy_source) == ("estimate", "estimate")


def test_a_cascade_needs_two_variants():
    with pytest.raises(ConfigError, match="routing.small_variant"):
        load_config(overrides=["routing.mode=cascade"])


def scored(rows: dict[str, tuple]) -> pd.DataFrame:
    """note_id -> (status, mean_logprob, energy_j, tp, fp, fn), as scored_notes() reads them from the tables."""
    frame = pd.DataFrame.from_dict(rows, orient="index", columns=["status", "mean_logprob", "energy_j", "tp", "fp", "fn"])
    return frame.assign(mode="gold")


def notes_in(half: str, count: int) -> list[str]:
    found = (f"n{i}" for i in range(1000) if half_of(f"n{i}") == half)
    return [next(found) for _ in range(count)]


def test_the_threshold_is_chosen_on_one_half_and_reported_on_the_other():
    """Confident small outputs are right, unconfident ones wrong; the large model is right everywhere at 5x the
    energy. The cheapest threshold at the large model's F1 escalates exactly the unconfident notes."""
    small, large = {}, {}
    for half in (CALIBRATION, REPORT):
        sure, unsure = notes_in(half, 4), notes_in(half, 8)[4:]
        small |= {n: ("ok", -0.05, 1.0, 3, 0, 0) for n in sure} | {n: ("ok", -0.8, 1.0, 0, 3, 3) for n in unsure}
        large |= {n: ("ok", -0.02, 5.0, 3, 0, 0) for n in sure + unsure}
    calibration = calibrate(scored(small), scored(large), margin=0.02)
    assert -0.8 < calibration.threshold <= -0.05
    cascade, alone = calibration.report["cascade"], calibration.report["large"]
    assert (cascade.notes, cascade.escalated, cascade.f1, alone.f1) == (8, 4, 1.0, 1.0)
    assert cascade.energy_j == 8 * 1.0 + 4 * 5.0 and alone.energy_j == 8 * 5.0  # both passes for the escalated
    assert calibration.candidates.meets_floor.any() and not calibration.candidates.meets_floor.all()


def test_failed_small_outputs_are_always_escalated_in_a_replay():
    small = scored({"a": ("invalid_json", -0.01, 1.0, 0, 0, 2), "b": ("ok", -0.9, 1.0, 2, 0, 0)})
    large = scored({"a": ("ok", -0.1, 4.0, 2, 0, 0), "b": ("ok", -0.1, 4.0, 2, 0, 0)})
    replayed = replay(small, large, None)
    assert (replayed.escalated, replayed.f1, replayed.energy_j) == (1, 1.0, 6.0)
    unknown = scored({"a": ("ok", None, 1.0, 2, 0, 0), "b": ("ok", -0.9, 1.0, 2, 0, 0)})
    assert replay(unknown, large, -0.5).escalated == 1  # like the job: unknown confidence is kept, -0.9 escalated


def test_too_few_notes_to_split_is_an_error():
    one = scored({notes_in(CALIBRATION, 1)[0]: ("ok", -0.1, 1.0, 1, 0, 0)})
    with pytest.raises(ConfigError, match="too few"):
        calibrate(one, one, 0.02)
