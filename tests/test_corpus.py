import json

import pytest

from notewatt.corpus import CorpusError, detect_format, read_notes


def test_format_detection(tmp_path):
    (tmp_path / "a.parquet").write_bytes(b"")
    assert detect_format(str(tmp_path)) == "parquet"
    assert detect_format("x/notes.jsonl") == "jsonl"
    (tmp_path / "_delta_log").mkdir()
    assert detect_format(str(tmp_path)) == "delta"
    with pytest.raises(CorpusError):
        detect_format(str(tmp_path / "nothing"))


def test_jsonl_csv_parquet_and_delta_read_alike(spark, tmp_path):
    rows = [{"note_id": 1, "text": 'Pt has "HTN",\nsecond line', "note_type": "progress_note", "extra": "kept out"}]
    (tmp_path / "n.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    frame = read_notes(spark, str(tmp_path / "n.jsonl"))
    frame.write.csv(str(tmp_path / "csv"), header=True, escape='"')
    frame.write.parquet(str(tmp_path / "parquet"))
    frame.write.format("delta").save(str(tmp_path / "delta"))
    for path, fmt in [(tmp_path / "n.jsonl", "auto"), (tmp_path / "csv", "csv"), (tmp_path / "parquet", "auto"),
                      (tmp_path / "delta", "auto")]:
        [row] = read_notes(spark, str(path), fmt).collect()
        assert row.asDict() == {"note_id": "1", "text": 'Pt has "HTN",\nsecond line', "note_type": "progress_note",
                                "patient_id": None, "encounter_date": None}


def test_missing_required_column_is_named_before_any_inference(spark, tmp_path):
    (tmp_path / "n.jsonl").write_text(json.dumps({"id": "x", "text": "t"}))
    with pytest.raises(CorpusError, match="note_id"):
        read_notes(spark, str(tmp_path / "n.jsonl"))
