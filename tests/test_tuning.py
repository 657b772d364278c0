"""The energy tuner's parts: the search space (every value a valid setting, the configured one first), the floor
the first trial sets (gold F1, or agreement with it), pruning from the ledger, and the best settings as a profile
that --config accepts. The search itself, on a real engine, is in BENCHMARKS.md (a benchmark, not a test)."""

import json
from dataclasses import replace
import time

import optuna
import pandas as pd
import pytest
from pydantic import ValidationError

from notewatt.cli import DEFAULT_PROFILE
from notewatt.config import ConfigError, load_config
from notewatt.tuning import (
    Floor, PruningMonitor, best_profile, best_trial, chart_rows, configured, objective_of, search_space,
)

FIRST = {"run_id": "t00", "quality_mode": "gold", "f1_overall": 0.20, "json_valid_rate": 0.9}


def config(*overrides):
    return load_config([DEFAULT_PROFILE], overrides)


def test_the_space_puts_the_configured_value_first_and_adds_the_variants():
    space = {p.key: p.choices for p in search_space(config("engine.batch_size=32"))}
    assert space["engine.batch_size"] == ("32", "null", "8")  # configured first, and not twice
    assert space["variant"] == ('"qwen-coder-1500m"', '"qwen-coder-500m"', '"smollm2-135m"')  # the ladder
    assert json.loads(space["preprocess.drop_sections"][1])[0] == "ANESTHESIA"
    assert configured(search_space(config()))["spark.partitions"] == "null"
    routing = [json.loads(choice) for choice in space["routing"]]  # the configured routing, then the cascades
    assert routing[0]["mode"] == "static" and routing[1] == {"mode": "cascade", "small_variant": "qwen-coder-500m"}


@pytest.mark.parametrize("override, named", [
    ("tuning.space={engine.bach_size: [8]}", "'engine.bach_size' is not a setting"),
    ("tuning.variants=[nope]", "unknown variant 'nope'"),
])
def test_an_unknown_setting_or_variant_in_the_space_is_named_before_anything_runs(override, named):
    with pytest.raises(ConfigError, match=named):
        search_space(config(override))


def test_an_invalid_value_in_the_space_is_named_as_a_setting():
    from notewatt.cli import user_message

    with pytest.raises(ValidationError) as raised:
        search_space(config("tuning.space={engine.batch_size: [0]}"))
    assert user_message(raised.value).startswith("setting engine.batch_size: Input should be greater than 0")


def test_the_first_trial_sets_the_floor_from_gold():
    floor = Floor.from_first_trial(FIRST, config("tuning.quality_margin=0.05"))
    assert (floor.quality_mode, floor.overrides()) == ("gold", [])
    assert floor.constraints(FIRST) == {"quality": pytest.approx(-0.05), "json_valid_rate": 0.0}  # meets its own
    assert floor.constraints(FIRST | {"f1_overall": 0.14, "json_valid_rate": 0.95})["quality"] > 0  # 0.06 lower
    assert floor.constraints(FIRST | {"f1_overall": 0.16, "json_valid_rate": 0.8})["json_valid_rate"] > 0
    assert floor.constraints(FIRST | {"f1_overall": None})["quality"] > 0


def test_without_gold_trials_are_scored_by_agreement_with_the_first():
    first = FIRST | {"quality_mode": "none", "f1_overall": None}
    floor = Floor.from_first_trial(first, config())
    assert floor.overrides() == ["quality.reference_run_id=t00", "quality.gold_path=null"]
    assert floor.quality_of(first) == 1.0 and floor.min_quality == pytest.approx(0.98)
    assert floor.constraints({"run_id": "t01", "f1_overall": 0.99, "json_valid_rate": 0.9})["quality"] < 0


def test_an_absolute_floor_can_leave_no_trial_feasible():
    floor = Floor.from_first_trial(FIRST, config("tuning.min_quality=0.5"))
    assert floor.constraints(FIRST)["quality"] == pytest.approx(0.3)  # not even the configured settings
    study = optuna.create_study(direction="maximize")
    study.add_trial(optuna.trial.create_trial(params={}, distributions={}, value=3.0,
                                              constraints=floor.constraints(FIRST)))
    assert best_trial(study, "output_tokens_per_joule") is None


def closed_window(energy_j, output_tokens, notes):
    from tests.test_stages_and_progress import entry

    return replace(entry(0, 0, notes, energy_j, "closed"), output_tokens=output_tokens)


def test_the_objective_over_closed_partitions():
    windows = [closed_window(10.0, 30, 2), closed_window(30.0, 50, 2)]
    assert objective_of(windows, "output_tokens_per_joule") == pytest.approx(2.0)
    assert objective_of(windows, "wh_per_1000_notes") == pytest.approx(40 / 3600 / 4 * 1000)


CLOSED_SLOW = closed_window(100.0, 50, 4).to_json()


def three_trials() -> optuna.Study:
    study = optuna.create_study(direction="maximize", pruner=optuna.pruners.PercentilePruner(25.0, n_startup_trials=3))
    for value in (5.0, 6.0, 7.0):
        trial = study.ask()
        trial.report(value, step=1)
        study.tell(trial, value)
    return study


def watch(study: optuna.Study, ledger, cancelled: list, on_poll=lambda: None) -> PruningMonitor:
    with PruningMonitor(study.ask(), str(ledger), "output_tokens_per_joule", lambda: cancelled.append(1),
                        poll_s=0.01) as monitor:
        for _ in range(300):
            if monitor.pruned:
                break
            on_poll()
            time.sleep(0.01)
    return monitor


def test_a_clearly_worse_trial_is_pruned_after_its_first_partition_and_its_job_cancelled(tmp_path):
    slow = tmp_path / "t03" / "1700000000000"
    slow.mkdir(parents=True)
    (slow / "w.json").write_text(CLOSED_SLOW)
    cancelled = []
    monitor = watch(three_trials(), tmp_path / "t03", cancelled)
    assert monitor.pruned and cancelled == [1]  # 0.5 tokens/J against 5-7


def test_a_ledger_that_cannot_be_read_for_a_while_does_not_stop_the_watch(tmp_path, caplog):
    entry = tmp_path / "t03" / "1700000000000" / "w.json"
    entry.parent.mkdir(parents=True)
    entry.write_text("{half written")  # as an object store may show a file being replaced
    polls = []

    def repair():
        polls.append(1)
        if len(polls) == 20:
            entry.write_text(CLOSED_SLOW)

    cancelled = []
    with caplog.at_level("WARNING", logger="notewatt.tuning"):
        monitor = watch(three_trials(), tmp_path / "t03", cancelled, repair)
    assert "the energy ledger could not be read (JSONDecodeError)" in caplog.text
    assert monitor.pruned and cancelled == [1]


def test_the_best_settings_are_a_profile_the_job_accepts(tmp_path):
    study = optuna.create_study(direction="maximize")
    params = {"engine.batch_size": "8", "preprocess.drop_sections": '["ANESTHESIA"]', "spark.partitions": "null"}
    distributions = {k: optuna.distributions.CategoricalDistribution([v]) for k, v in params.items()}
    study.add_trial(optuna.trial.create_trial(params=params, distributions=distributions, value=4.2,
                                              constraints={"quality": -0.1, "json_valid_rate": 0.0}))
    profile = tmp_path / "tuned.yaml"
    profile.write_text(best_profile(best_trial(study, "output_tokens_per_joule"), "tuned\nhere"))
    assert profile.read_text().startswith("# tuned\n# here\n")
    tuned = load_config([DEFAULT_PROFILE, profile])
    assert (tuned.engine.batch_size, tuned.preprocess.drop_sections, tuned.spark.partitions) == (8, ["ANESTHESIA"], None)


def test_the_chart_draws_the_front_over_feasible_trials_only():
    trials = pd.DataFrame([
        {"trial": 0, "state": "COMPLETE", "feasible": True, "wh_per_1000_notes": 10.0, "f1_overall": 0.14},
        {"trial": 1, "state": "COMPLETE", "feasible": False, "wh_per_1000_notes": 7.5, "f1_overall": 0.15},
        {"trial": 2, "state": "COMPLETE", "feasible": True, "wh_per_1000_notes": 12.0, "f1_overall": 0.13},
        {"trial": 3, "state": "PRUNED", "feasible": False, "wh_per_1000_notes": None, "f1_overall": None},
    ])
    chart = chart_rows(trials).set_index("variant")
    assert chart["on_front"].to_dict() == {"t00": True, "t02": False, "t01 (below floor)": False}
