"""A run's quality on Spark: scored once against gold, each route's F1 from that scoring, the valid-JSON rate over
every note, a run without a reference still has its valid-JSON rate, and a reference that cannot be used is a
ConfigError before any inference."""

import json

import pytest

from notewatt.config import ConfigError, OutputConfig, QualityConfig
from notewatt.quality.run_quality import load_reference, score_run_quality
from notewatt.table_store import TableStore

GOLD = {"problems": ["hypertension"], "medications": [], "procedures": [], "allergies": [], "smoking_status": "never"}
WRONG = GOLD | {"problems": ["gout"]}


@pytest.fixture
def setup(spark, tmp_path):
    (tmp_path / "gold.jsonl").write_text("\n".join(json.dumps({"note_id": i, "abstraction": GOLD}) for i in "abc"))
    notes = spark.createDataFrame([
        ("a", "small", "ok", json.dumps(GOLD), 1.0), ("b", "large", "ok", json.dumps(WRONG), 2.0),
        ("c", "large", "invalid_json", "{", 4.0), ("x", "large", "ok", json.dumps(GOLD), 8.0),  # x: no gold
    ], "note_id string, variant string, status string, abstraction string, energy_j double")
    return TableStore(spark, OutputConfig(path=str(tmp_path))), notes, str(tmp_path / "gold.jsonl")


def test_routes_are_scored_from_one_pass_over_the_gold_notes(setup):
    store, notes, gold = setup
    reference = load_reference(store, QualityConfig(gold_path=gold))
    quality = score_run_quality(reference, notes, "r", ["small", "large"], 4, 3)
    assert quality.mode == "gold" and quality.metrics["json_valid_rate"] == 0.75  # 3 of 4 notes, gold or not
    assert quality.metrics["notes_scored"] == 3 and quality.metrics["notes_without_gold"] == 1
    assert quality.route_f1["small"] == 1.0 and quality.route_f1["large"] < quality.metrics["f1_overall"] < 1.0
    assert {r["note_id"] for r in quality.note_scores} == {"a", "b", "c"}
    assert quality.metrics["correct_items"] == 3  # a: hypertension and never; b: never
    assert quality.scored_energy_j == 7.0  # the energy per correct answer is over the scored notes' energy only


def test_a_run_without_a_reference_keeps_its_valid_json_rate(setup):
    store, notes, _ = setup
    assert load_reference(store, QualityConfig(gold_path=None)) is None
    quality = score_run_quality(None, notes, "r", ["large"], 4, 3)
    assert (quality.mode, quality.metrics, quality.route_f1, quality.note_scores) == (
        "none", {"json_valid_rate": 0.75}, {"large": None}, [])


@pytest.mark.parametrize("quality, message", [
    (QualityConfig(gold_path="missing.jsonl"), "quality.gold_path 'missing.jsonl' cannot be used"),
    (QualityConfig(gold_path=None, reference_run_id="earlier"), "quality.reference_run_id 'earlier' has no ok notes"),
])
def test_a_reference_that_cannot_be_used_is_a_config_error(setup, quality, message):
    store, _, _ = setup
    with pytest.raises(ConfigError, match=message):
        load_reference(store, quality)
