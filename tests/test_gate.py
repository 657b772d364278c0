import math

import pytest
from pydantic import ValidationError

from notewatt.gate.checks import check_against_baseline, check_targets, gate_passed, gate_report, mann_whitney_greater
from notewatt.gate.criteria import GateCriteria, Targets, Tolerances, load_criteria

TARGETS = Targets(min_tokens_per_wh_p5=5000, max_wh_per_1000_notes=50, min_f1_overall=0.03, min_json_valid_rate=0.25)
ROLLUP = {"tokens_per_wh_p5": 11659.5, "wh_per_1000_notes": 24.7}
QUALITY = {"f1_overall": 0.09, "json_valid_rate": 0.83}
TOL = Tolerances()
BASELINE = [20.0, 20.5, 19.5, 21.0, 19.8, 20.2]


def by_name(checks):
    return {c.name: c for c in checks}


def test_run_meeting_every_target_passes():
    checks = check_targets(ROLLUP, QUALITY, TARGETS)
    assert [c.name for c in checks] == ["tokens_per_wh_p5", "wh_per_1000_notes", "f1_overall", "json_valid_rate"]
    assert gate_passed(checks) and "gate: PASSED" in gate_report(checks)


def test_figures_on_the_limit_pass():
    on_limit = {"tokens_per_wh_p5": 5000.0, "wh_per_1000_notes": 50.0}
    assert gate_passed(check_targets(on_limit, {"f1_overall": 0.03, "json_valid_rate": 0.25}, TARGETS))


def test_energy_target_fails():
    checks = by_name(check_targets({**ROLLUP, "wh_per_1000_notes": 61.0}, QUALITY, TARGETS))
    assert not checks["wh_per_1000_notes"].passed and checks["wh_per_1000_notes"].observed == 61.0
    assert checks["tokens_per_wh_p5"].passed
    assert not gate_passed(list(checks.values()))


def test_tokens_per_wh_p5_is_a_floor_under_the_worst_partitions():
    checks = by_name(check_targets({**ROLLUP, "tokens_per_wh_p5": 4999.0}, QUALITY, TARGETS))
    assert not checks["tokens_per_wh_p5"].passed and checks["tokens_per_wh_p5"].limit == 5000


def test_quality_target_fails_and_missing_figures_fail():
    checks = by_name(check_targets(ROLLUP, {"f1_overall": 0.01, "json_valid_rate": math.nan}, TARGETS))
    assert not checks["f1_overall"].passed and checks["f1_overall"].observed == 0.01
    assert not checks["json_valid_rate"].passed and checks["json_valid_rate"].detail == "not reported"
    unscored = by_name(check_targets(ROLLUP, {"json_valid_rate": 0.9}, TARGETS))["f1_overall"]
    assert not unscored.passed and "quality.gold_path" in unscored.detail and "quality.reference_run_id" in unscored.detail
    report = gate_report(list(checks.values()))
    assert "FAIL" in report and report.endswith("gate: FAILED")


def test_an_incomplete_run_fails_its_energy_targets():
    """Its figures are lower bounds: it used to pass a max_wh_per_1000_notes ceiling more easily."""
    incomplete = {**ROLLUP, "energy_status": "incomplete", "energy_status_reason": "GPU-0: final reading failed"}
    checks = by_name(check_targets(incomplete, QUALITY, TARGETS))
    assert not checks["wh_per_1000_notes"].passed and not checks["tokens_per_wh_p5"].passed
    assert "incomplete, a lower bound (GPU-0: final reading failed)" in checks["wh_per_1000_notes"].detail
    assert checks["f1_overall"].passed  # quality does not depend on it


def test_a_baseline_of_another_energy_status_or_sources_is_not_comparable():
    """An estimated baseline against an NVML run used to pass, as if the figures were the same kind."""
    measured = {**QUALITY, "energy_status": "measured", "energy_sources": "nvml_counter,rapl"}
    estimated = {**QUALITY, "energy_status": "estimated", "energy_sources": "estimate"}
    [energy, *_] = check_against_baseline(BASELINE, BASELINE, measured, estimated, TOL)
    assert not energy.passed and energy.detail.startswith("not comparable: the run's energy is measured")
    assert check_against_baseline(BASELINE, BASELINE, measured, measured, TOL)[0].passed
    incomplete = {**measured, "energy_status": "incomplete"}
    assert "not comparable" in check_against_baseline(BASELINE, BASELINE, incomplete, incomplete, TOL)[0].detail


def test_a_floor_under_the_best_partitions_is_refused_with_the_one_meant(tmp_path):
    from notewatt.config import ConfigError

    old = tmp_path / "targets.yaml"
    old.write_text("targets:\n  min_tokens_per_wh_p95: 2000\n")
    with pytest.raises(ConfigError, match="a floor belongs under the worst: use min_tokens_per_wh_p5"):
        load_criteria(old)


def test_unset_targets_are_not_checked():
    assert [c.name for c in check_targets({}, QUALITY, Targets(min_f1_overall=0.05))] == ["f1_overall"]


def test_baseline_noise_within_tolerance_passes():
    current = [20.4, 20.0, 19.7, 20.6, 20.2, 20.1]
    checks = check_against_baseline(current, BASELINE, QUALITY, {**QUALITY, "f1_overall": 0.10}, TOL)
    assert gate_passed(checks)
    energy = checks[0]
    assert energy.observed == pytest.approx((20.15 - 20.1) / 20.1) and "within tolerance" in energy.detail


def test_clearly_shifted_distribution_fails():
    current = [26.0, 25.5, 27.0, 26.4, 25.8, 26.9]
    energy = check_against_baseline(current, BASELINE, QUALITY, QUALITY, TOL)[0]
    assert not energy.passed and energy.observed == pytest.approx((26.2 - 20.1) / 20.1)
    assert "p=0.00108" in energy.detail  # 1 / C(12, 6): every current partition above every baseline one


def test_large_median_shift_that_is_noise_passes():
    baseline = [10, 11, 12, 28, 29, 30]
    current = [10.5, 11.5, 25, 26, 29.5, 30.5]  # median 25.5 vs 20 (+27.5 %), but the samples overlap
    energy = check_against_baseline(current, baseline, QUALITY, QUALITY, TOL)[0]
    assert energy.passed and energy.observed == pytest.approx(0.275) and "p=0.409" in energy.detail


def test_tokens_per_wh_regresses_downwards():
    baseline = [11500.0, 11600.0, 11450.0, 11700.0]
    current = [9000.0, 9100.0, 8900.0, 9050.0]
    checks = check_against_baseline(current, baseline, QUALITY, QUALITY, TOL, energy_metric="tokens_per_wh")
    assert not checks[0].passed and checks[0].observed == pytest.approx((11550 - 9025) / 11550)
    assert check_against_baseline(baseline, current, QUALITY, QUALITY, TOL, energy_metric="tokens_per_wh")[0].passed


def test_tiny_samples_compare_with_the_baseline_worst_partition():
    shifted = check_against_baseline([25.0, 26.0], [20.0, 21.0], QUALITY, QUALITY, TOL)[0]
    assert not shifted.passed and "too few partitions" in shifted.detail
    spread = check_against_baseline([23.5, 23.5], [18.0, 24.0], QUALITY, QUALITY, TOL)[0]
    assert spread.passed and spread.observed == pytest.approx(2.5 / 21)


def test_quality_drop_beyond_tolerance_fails():
    checks = by_name(check_against_baseline(BASELINE, BASELINE, {"f1_overall": 0.07, "json_valid_rate": 0.80},
                                            {"f1_overall": 0.10, "json_valid_rate": 0.83}, TOL))
    assert not checks["f1_overall vs baseline"].passed
    assert checks["f1_overall vs baseline"].observed == pytest.approx(0.03)
    assert not checks["json_valid_rate vs baseline"].passed
    assert checks["wh_per_1000_notes vs baseline"].passed


def test_no_partitions_fails():
    assert not check_against_baseline([], BASELINE, QUALITY, QUALITY, TOL)[0].passed


def test_mann_whitney_exact_and_approximate():
    assert mann_whitney_greater([4, 5, 6], [1, 2, 3]) == pytest.approx(1 / 20)
    assert mann_whitney_greater([5, 6, 7, 8], [1, 2, 3, 4]) == pytest.approx(1 / 70)
    assert mann_whitney_greater([1, 2, 3], [4, 5, 6]) == 1.0
    # ties -> normal approximation with tie and continuity corrections (scipy gives 0.000112242)
    assert mann_whitney_greater(list(range(10, 40)), list(range(30))) == pytest.approx(0.000112242, rel=1e-5)
    assert mann_whitney_greater([1, 1], [1, 1]) == 1.0


def test_example_criteria_load_and_are_strict():
    criteria = load_criteria("conf/targets.yaml")
    assert criteria.targets.max_wh_per_1000_notes == 100 and criteria.tolerances.max_json_valid_rate_drop == 0.05
    assert criteria.tolerances.max_energy_regression == Tolerances().max_energy_regression  # the default, not a copy
    with pytest.raises(ValidationError):
        GateCriteria.model_validate({"targets": {"max_wh_per_note": 1}})


def test_energy_per_correct_answer_has_a_ceiling_and_an_unscored_run_fails_it():
    ceiling = Targets(max_wh_per_1000_correct_items=10.0)
    assert gate_passed(check_targets({"wh_per_1000_correct_items": 9.5}, QUALITY, ceiling))
    [over] = check_targets({"wh_per_1000_correct_items": 10.5}, QUALITY, ceiling)
    assert (over.name, over.passed) == ("wh_per_1000_correct_items", False)
    [unscored] = check_targets({"wh_per_1000_correct_items": None}, QUALITY, ceiling)
    assert not unscored.passed and "no correct item" in unscored.detail
    [incomplete] = check_targets({"wh_per_1000_correct_items": 1.0, "energy_status": "incomplete"}, QUALITY, ceiling)
    assert not incomplete.passed and "lower bound" in incomplete.detail

