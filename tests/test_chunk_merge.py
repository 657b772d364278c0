import json
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from udfs.chunk_merge import merge_abstractions

SCHEMA = json.loads((Path(__file__).resolve().parents[1] / "conf" / "abstraction_schema.json").read_text())


def part(problems=(), medications=(), procedures=(), allergies=(), smoking_status="unknown") -> dict:
    return {
        "problems": list(problems),
        "medications": [{"name": n, "dose": d} for n, d in medications],
        "procedures": list(procedures),
        "allergies": list(allergies),
        "smoking_status": smoking_status,
    }


def test_strings_are_deduplicated_across_chunks_keeping_the_first_spelling():
    merged = merge_abstractions([
        part(problems=["Type 2 diabetes", "Hypertension."], allergies=["Penicillin"]),
        part(problems=["type 2  DIABETES.", "hypertension", "Asthma"], allergies=["penicillin;", "Latex"]),
    ], SCHEMA)
    assert merged["problems"] == ["Type 2 diabetes", "Hypertension.", "Asthma"]
    assert merged["allergies"] == ["Penicillin", "Latex"]


def test_medications_are_deduplicated_by_name_preferring_a_stated_dose():
    merged = merge_abstractions([
        part(medications=[("Metformin", ""), ("aspirin", "81 mg")]),
        part(medications=[("metformin ", "500 mg"), ("Aspirin", "325 mg"), ("Lisinopril", "")]),
        part(medications=[("METFORMIN", "1000 mg")]),
    ], SCHEMA)
    assert merged["medications"] == [
        {"name": "metformin ", "dose": "500 mg"},  # first with a dose, at the first mention's place
        {"name": "aspirin", "dose": "81 mg"},  # both have doses: the first is kept
        {"name": "Lisinopril", "dose": ""},
    ]


def test_arrays_are_capped_at_max_items():
    parts = [part(problems=[f"p{i}" for i in range(4)], procedures=["a", "b", "c"]),
             part(problems=[f"p{i}" for i in range(2, 8)], procedures=["c", "d", "e"])]
    merged = merge_abstractions(parts, SCHEMA)
    assert merged["problems"] == ["p0", "p1", "p2", "p3", "p4", "p5"]
    assert merged["procedures"] == ["a", "b", "c", "d"]


@pytest.mark.parametrize("statuses, expected", [
    (["unknown", "former", "current"], "former"),
    (["never", "unknown"], "never"),
    (["unknown", "unknown"], "unknown"),
])
def test_smoking_status_is_the_first_known_value(statuses, expected):
    merged = merge_abstractions([part(smoking_status=s) for s in statuses], SCHEMA)
    assert merged["smoking_status"] == expected


def test_single_part_is_returned_unchanged():
    one = part(problems=["Asthma"], medications=[("albuterol", "2 puffs")], smoking_status="never")
    assert merge_abstractions([one], SCHEMA) == one


def test_no_parts_is_an_error():
    with pytest.raises(ValueError):
        merge_abstractions([], SCHEMA)


def test_unsupported_property_type_is_an_error():
    schema = {"properties": {"age": {"type": "integer"}}}
    with pytest.raises(ValueError, match="age"):
        merge_abstractions([{"age": 3}], schema)


def test_merged_output_validates_against_the_schema():
    parts = [
        part(problems=[f"problem {i}" for i in range(6)], medications=[(f"drug{i}", "") for i in range(6)],
             procedures=["x", "y", "z", "w"], allergies=["a", "b", "c", "d"], smoking_status="unknown"),
        part(problems=["Problem 0", "new"], medications=[("DRUG0", "5 mg"), ("drug9", "1 mg")],
             procedures=["v"], allergies=["e"], smoking_status="current"),
    ]
    validator = Draft202012Validator(SCHEMA)
    assert all(validator.is_valid(p) for p in parts)
    merged = merge_abstractions(parts, SCHEMA)
    assert list(validator.iter_errors(merged)) == []
    assert merged["medications"][0] == {"name": "DRUG0", "dose": "5 mg"}
    assert merged["smoking_status"] == "current"
    assert [len(merged[f]) for f in ("problems", "medications", "procedures", "allergies")] == [6, 6, 4, 4]  # capped
