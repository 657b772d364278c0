import json

import pytest

from notewatt.quality.scoring import (
    FIELDS,
    SYNONYMS,
    FieldScore,
    load_gold,
    normalise,
    reference_gold,
    score_note,
    score_notes,
    summarise,
)

GOLD = {
    "problems": ["hypertension", "type 2 diabetes mellitus"],
    "medications": [{"name": "metformin", "dose": "500 mg twice daily"}, {"name": "aspirin", "dose": "81 mg daily"}],
    "procedures": ["electrocardiogram"],
    "allergies": ["penicillin"],
    "smoking_status": "former",
}


def abstraction(**fields):
    base = {"problems": [], "medications": [], "procedures": [], "allergies": [], "smoking_status": "unknown"}
    return {**base, **fields}


def counts(scores):
    return {field: (s.tp, s.fp, s.fn) for field, s in scores.items()}


def test_exact_prediction_is_all_true_positives():
    assert counts(score_note(GOLD, GOLD)) == {
        "problems": (2, 0, 0), "medications": (2, 0, 0), "procedures": (1, 0, 0), "allergies": (1, 0, 0),
        "smoking_status": (1, 0, 0), "medications_with_dose": (2, 0, 0),
    }


def test_lenient_case_whitespace_punctuation_and_synonyms():
    predicted = abstraction(
        problems=["  HTN ", "Type-2   DM."],
        medications=[{"name": "Metformin 500 mg", "dose": "500MG twice daily"}, {"name": "ASA", "dose": "81 mg Daily"}],
        procedures=["EKG"],
        allergies=["PCN"],
        smoking_status="Former",
    )
    assert counts(score_note(predicted, GOLD)) == counts(score_note(GOLD, GOLD))


def test_an_allergen_matches_with_its_reaction_in_brackets():
    gold = abstraction(allergies=["sulfa", "iodinated contrast"])
    predicted = abstraction(allergies=["Sulfa (hives)", "IV contrast [anaphylaxis]"])
    assert score_note(predicted, gold)["allergies"] == FieldScore(2, 0, 0)
    assert score_note(abstraction(allergies=["hives (sulfa)"]), gold)["allergies"] == FieldScore(0, 1, 2)


def test_synonym_inside_a_longer_item_and_table_is_idempotent():
    assert normalise("CKD stage 3") == "chronic kidney disease stage 3"
    assert normalise("right TKA") == "right total knee arthroplasty"
    assert normalise("Non-ST elevation MI") == normalise("NSTEMI") == "non st elevation myocardial infarction"
    for canonical in SYNONYMS.values():
        assert normalise(normalise(canonical)) == normalise(canonical)


def test_missing_field_counts_gold_items_as_misses():
    predicted = {k: v for k, v in GOLD.items() if k != "procedures"}
    scores = score_note(predicted, GOLD)
    assert counts(scores)["procedures"] == (0, 0, 1)
    assert scores["procedures"].f1 == 0.0 and scores["problems"].f1 == 1.0


def test_extra_and_repeated_items_are_false_positives():
    predicted = {**GOLD, "problems": ["hypertension", "HTN", "asthma", "type 2 diabetes mellitus"]}
    score = score_note(predicted, GOLD)["problems"]
    assert (score.tp, score.fp, score.fn) == (2, 2, 0)
    assert score.precision == pytest.approx(0.5) and score.recall == 1.0 and score.f1 == pytest.approx(2 / 3)


def test_items_match_as_multisets():
    gold = abstraction(problems=["gout", "gout"])
    assert counts(score_note(abstraction(problems=["Gout", "gout "]), gold))["problems"] == (2, 0, 0)
    assert counts(score_note(abstraction(problems=["gout"]), gold))["problems"] == (1, 0, 1)


def test_dose_disagreement_counts_only_in_the_dose_field():
    medications = [{"name": "metformin", "dose": "1000 mg"}, {"name": "aspirin", "dose": "81mg daily"}]
    predicted = {**GOLD, "medications": medications}
    scores = counts(score_note(predicted, GOLD))
    assert scores["medications"] == (2, 0, 0) and scores["medications_with_dose"] == (1, 1, 1)


def test_wrong_smoking_status_is_a_false_positive_and_a_miss():
    assert counts(score_note({**GOLD, "smoking_status": "never"}, GOLD))["smoking_status"] == (0, 1, 1)


def test_no_prediction_misses_everything():
    assert counts(score_note(None, GOLD)) == {
        "problems": (0, 0, 2), "medications": (0, 0, 2), "procedures": (0, 0, 1), "allergies": (0, 0, 1),
        "smoking_status": (0, 0, 1), "medications_with_dose": (0, 0, 2),
    }


def test_empty_lists_and_none_markers_are_perfect():
    gold = abstraction(smoking_status="never")
    scores = score_note(abstraction(allergies=["NKDA"], smoking_status="never"), gold)
    assert scores["allergies"] == FieldScore(0, 0, 0)
    assert (scores["allergies"].precision, scores["allergies"].recall, scores["allergies"].f1) == (1.0, 1.0, 1.0)
    assert FieldScore(0, 0, 3).precision == 0.0 and FieldScore(0, 2, 0).recall == 0.0


def test_summarise_micro_averages_over_notes():
    note_a = score_note({**GOLD, "problems": ["hypertension"]}, GOLD)  # problems 1/0/1
    note_b = score_note({**GOLD, "problems": ["hypertension", "type 2 diabetes mellitus", "gout"]}, GOLD)  # 2/1/0
    metrics = summarise([note_a, note_b])
    assert metrics["precision.problems"] == pytest.approx(3 / 4)
    assert metrics["recall.problems"] == pytest.approx(3 / 4)
    assert metrics["f1.problems"] == pytest.approx(3 / 4)
    # overall: problems 3/1/1 plus two perfect notes of medications (4), procedures (2), allergies (2), smoking (2)
    assert metrics["f1_overall"] == pytest.approx(2 * 13 / (2 * 13 + 2))
    assert metrics["notes_scored"] == 2
    assert {f"f1.{f}" for f in FIELDS} <= metrics.keys()


def test_nothing_scored_reports_no_f1():
    assert summarise([]) == {"notes_scored": 0.0}


def test_run_rows_skip_notes_without_gold_and_count_them():
    gold = {"a": GOLD, "b": GOLD, "z": GOLD}
    notes = [
        ("a", "ok", json.dumps(GOLD)),
        ("b", "invalid_json", '{"problems": ['),
        ("c", "ok", json.dumps(GOLD)),
    ]
    scored = score_notes(notes, gold)
    assert scored.mode == "gold" and scored.without_gold == ("c",) and scored.gold_not_in_run == ("z",)
    metrics = scored.metrics()
    assert metrics["notes_scored"] == 2
    assert metrics["recall_overall"] == pytest.approx(0.5) and metrics["precision_overall"] == 1.0
    assert scored.metrics({"a"})["f1_overall"] == 1.0 and scored.metrics({"b"})["f1_overall"] == 0.0  # a route's
    rows = scored.rows("run-1")
    assert len(rows) == 2 * len(FIELDS) and {r["note_id"] for r in rows} == {"a", "b"}
    row = next(r for r in rows if r["note_id"] == "b" and r["field"] == "problems")
    assert row == {
        "run_id": "run-1", "mode": "gold", "note_id": "b", "status": "invalid_json", "prediction_parsed": False,
        "field": "problems", "tp": 0, "fp": 0, "fn": 2, "precision": 0.0, "recall": 0.0, "f1": 0.0,
        "exact_match": False,
    }
    assert all(r["exact_match"] for r in rows if r["note_id"] == "a")


def test_truncated_note_with_valid_json_is_scored():
    scored = score_notes([("a", "truncated", json.dumps(GOLD))], {"a": GOLD})
    assert scored.notes[0].parsed and scored.metrics()["f1_overall"] == 1.0


def test_repeated_note_id_is_refused():
    with pytest.raises(ValueError, match="'a'"):
        score_notes([("a", "ok", "{}"), ("a", "ok", "{}")], {"a": GOLD})


def test_agreement_mode_scores_against_a_reference_run():
    reference = [("a", "ok", json.dumps(GOLD)), ("b", "invalid_json", "not json"), ("c", "ok", json.dumps(GOLD))]
    notes = [("a", "ok", json.dumps({**GOLD, "smoking_status": "never"})), ("b", "ok", json.dumps(GOLD))]
    scored = score_notes(notes, reference_gold(reference), "reference:run-8b")
    assert scored.mode == "reference:run-8b"
    assert scored.without_gold == ("b",) and scored.gold_not_in_run == ("c",)
    assert scored.metrics()["f1.smoking_status"] == 0.0 and scored.metrics()["f1.problems"] == 1.0
    assert scored.rows("r")[0]["mode"] == "reference:run-8b"


def test_load_gold_reads_the_sample_labels():
    gold = load_gold("data/sample_notes_gold.jsonl")
    assert len(gold) == 36 and gold["syn-001"]["smoking_status"] == "never"
    perfect = score_notes([(i, "ok", json.dumps(a)) for i, a in gold.items()], gold)
    assert perfect.metrics()["f1_overall"] == 1.0


def test_load_gold_rejects_duplicates_and_bad_lines(tmp_path):
    line = json.dumps({"note_id": "n1", "abstraction": GOLD})
    (tmp_path / "dup.jsonl").write_text(f"{line}\n{line}\n")
    with pytest.raises(ValueError, match=r"dup.jsonl:2: duplicate note_id 'n1'"):
        load_gold(tmp_path / "dup.jsonl")
    (tmp_path / "bad.jsonl").write_text('{"note_id": "n1"}\n')
    with pytest.raises(ValueError, match=r"bad.jsonl:1"):
        load_gold(tmp_path / "bad.jsonl")
