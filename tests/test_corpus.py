import json

import pytest

from notewatt.corpus import CORRUPT_RECORD, SOURCE_FILE, CorpusError, detect_format, read_notes


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
    frame = read_notes(spark, str(tmp_path / "n.jsonl")).drop(SOURCE_FILE, CORRUPT_RECORD)
    frame.write.csv(str(tmp_path / "csv"), header=True, escape='"')
    frame.write.parquet(str(tmp_path / "parquet"))
    frame.write.format("delta").save(str(tmp_path / "delta"))
    for path, fmt in [(tmp_path / "n.jsonl", "auto"), (tmp_path / "csv", "csv"), (tmp_path / "parquet", "auto"),
                      (tmp_path / "delta", "auto")]:
        [row] = read_notes(spark, str(path), fmt).collect()
        row = row.asDict()
        assert row.pop(SOURCE_FILE).startswith(f"file:{path}")
        assert row == {"note_id": "1", "text": 'Pt has "HTN",\nsecond line', "note_type": "progress_note",
                       "patient_id": None, "encounter_date": None, CORRUPT_RECORD: None}


def test_missing_required_column_is_named_before_any_inference(spark, tmp_path):
    (tmp_path / "n.jsonl").write_text(json.dumps({"id": "x", "text": "t"}))
    with pytest.raises(CorpusError, match="note_id"):
        read_notes(spark, str(tmp_path / "n.jsonl"))


def test_unparseable_lines_and_rows_are_kept_as_corrupt_records(spark, tmp_path):
    (tmp_path / "n.jsonl").write_text('{"note_id": "1", "text": "t"}\n{"note_id": "2", "text": \n')
    (tmp_path / "n.csv").write_text('note_id,text\n1,t\n2,t,extra\n')
    for name in ("n.jsonl", "n.csv"):
        rows = read_notes(spark, str(tmp_path / name)).orderBy(CORRUPT_RECORD).collect()
        raw = '{"note_id": "2", "text": ' if name == "n.jsonl" else "2,t,extra"
        assert [r[CORRUPT_RECORD] for r in rows] == [None, raw]


def test_missing_text_is_named_even_with_unparseable_lines(spark, tmp_path):
    (tmp_path / "n.jsonl").write_text('{"note_id": "1"}\n{"note_id": "2", "body": "x"}\nnot json\n')
    (tmp_path / "all_bad.jsonl").write_text("not json\n{broken\n")
    (tmp_path / "n.csv").write_text("note_id,body\n1,x\n2,y,extra\n")
    for name in ("n.jsonl", "n.csv"):
        with pytest.raises(CorpusError, match=r"lacks required column\(s\) \['text'\]"):
            read_notes(spark, str(tmp_path / name))
    with pytest.raises(CorpusError, match="no record could be parsed"):
        read_notes(spark, str(tmp_path / "all_bad.jsonl"))
