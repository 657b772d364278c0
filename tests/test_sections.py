import json
from pathlib import Path

import pytest

from udfs.sections import Section, chunk_sections, drop_sections, split_sections

SAMPLE_NOTES = Path(__file__).resolve().parents[1] / "data" / "sample_notes" / "notes.jsonl"

NOTE = (
    "EMERGENCY DEPARTMENT NOTE\n"
    "Patient: P0001    Date of visit: 2025-01-01\n"
    "\n"
    "HISTORY OF PRESENT ILLNESS:\n"
    "Chest pain for two hours. No fever.\n"
    "\n"
    "MEDICATIONS: metformin 500 mg twice daily.\n"
    "Vitals: BP 120/80, HR 70\n"
    "BP 120/80: repeated after rest.\n"
    "ASSESSMENT AND PLAN:\n"
    "Stable angina. Start aspirin.\n"
)


def words(text: str) -> int:
    return len(text.split())


def headers(text: str) -> list[str | None]:
    return [s.header for s in split_sections(text)]


def test_headers_on_their_own_line_and_inline():
    sections = split_sections(NOTE)
    assert [s.header for s in sections] == [None, "HISTORY OF PRESENT ILLNESS", "MEDICATIONS", "ASSESSMENT AND PLAN"]
    assert sections[0].text == "EMERGENCY DEPARTMENT NOTE\nPatient: P0001    Date of visit: 2025-01-01\n\n"
    assert sections[2].text.startswith("MEDICATIONS: metformin 500 mg")
    assert "BP 120/80: repeated" in sections[2].text  # not a header
    assert sections[3].text == "ASSESSMENT AND PLAN:\nStable angina. Start aspirin.\n"


def test_mtsamples_style_one_line_with_comma_after_colon():
    text = "SUBJECTIVE:, This 23-year-old white female presents. OBJECTIVE:, Vitals stable. A/P:, Rhinitis."
    sections = split_sections(text)
    assert [s.header for s in sections] == ["SUBJECTIVE", "OBJECTIVE", "A/P"]
    assert sections[1].text == "OBJECTIVE:, Vitals stable. "


def test_headers_after_a_sentence_end_or_another_header_on_one_line():
    text = "ANESTHESIA: General COMPLICATIONS: None. PHYSICAL EXAMINATION: VITAL SIGNS: Temp 37. ROS: Neg."
    assert headers(text) == ["ANESTHESIA", "COMPLICATIONS", "PHYSICAL EXAMINATION", "VITAL SIGNS", "ROS"]


def test_header_names_are_normalised():
    assert headers("x\n  PAST   MEDICAL HISTORY :\nNone.\nASSESSMENT & PLAN: ok") == [
        None, "PAST MEDICAL HISTORY", "ASSESSMENT & PLAN"]


@pytest.mark.parametrize("text", [
    "EMERGENCY DEPARTMENT NOTE\nChest pain.",  # an all-caps title without a colon
    "BP 120/80: elevated.\nHR 72 bpm.",  # a measurement, not a header
    "Vitals: stable. Plan: discharge.",  # mixed case
    "Seen today, BP: 120/80, HR 72.",  # an abbreviation after a comma
    "Chest pain for two hours.",
])
def test_text_without_headers_is_one_preamble(text):
    assert split_sections(text) == [Section(None, text)]


def test_empty_note_has_no_sections():
    assert split_sections("") == []


def test_note_that_starts_with_a_header_has_no_preamble():
    assert headers("CHIEF COMPLAINT: Cough.") == ["CHIEF COMPLAINT"]


def test_crlf_line_endings():
    text = "TITLE\r\nHISTORY:\r\nCough.\r\nPLAN: rest.\r\n"
    sections = split_sections(text)
    assert [s.header for s in sections] == [None, "HISTORY", "PLAN"]
    assert sections[1].text == "HISTORY:\r\nCough.\r\n"
    assert "".join(s.text for s in sections) == text


def test_round_trip_on_every_sample_note():
    notes = [json.loads(line)["text"] for line in SAMPLE_NOTES.read_text().splitlines() if line.strip()]
    assert len(notes) == 36
    for text in notes:
        sections = split_sections(text)
        assert "".join(s.text for s in sections) == text
        assert len([s for s in sections if s.header]) >= 4
    assert "ALLERGIES" in {s.header for s in split_sections(notes[0])}


def test_drop_sections_compares_normalised_headers_and_keeps_the_preamble():
    sections = split_sections(NOTE)
    kept = drop_sections(sections, frozenset({"history of  present illness:", "Medications"}))
    assert [s.header for s in kept] == [None, "ASSESSMENT AND PLAN"]
    assert drop_sections(sections, frozenset()) == sections


def test_small_note_is_one_chunk():
    assert chunk_sections(split_sections(NOTE), 1000, words) == [NOTE]


def test_chunks_respect_the_budget_and_keep_every_character_in_order():
    sections = split_sections(NOTE)
    chunks = chunk_sections(sections, 12, words)
    assert "".join(chunks) == NOTE
    assert all(chunk and words(chunk) <= 12 for chunk in chunks)
    assert len(chunks) > 1
    assert chunks[0] == sections[0].text  # whole sections are packed while they fit


def test_oversize_section_is_split_at_sentence_ends():
    section = Section("HISTORY", "HISTORY: " + " ".join(f"Sentence {i} has five words." for i in range(10)))
    chunks = chunk_sections([section], 12, words)
    assert "".join(chunks) == section.text
    assert all(words(c) <= 12 for c in chunks)
    assert chunks[0] == "HISTORY: Sentence 0 has five words. Sentence 1 has five words. "
    assert chunks[1] == "Sentence 2 has five words. Sentence 3 has five words. "


def test_oversize_sentence_is_split_by_characters():
    text = " ".join(f"w{i}" for i in range(100))  # one sentence, 100 words
    chunks = chunk_sections([Section(None, text)], 10, words)
    assert "".join(chunks) == text
    assert all(0 < words(c) <= 10 for c in chunks)
    assert len(chunks) >= 10


def test_long_word_without_spaces_is_cut_by_characters():
    def chars(text: str) -> int:
        return len(text)

    chunks = chunk_sections([Section(None, "x" * 95)], 10, chars)
    assert [len(c) for c in chunks] == [9] * 10 + [5]


def test_count_tokens_is_called_a_linear_number_of_times():
    calls = []

    def counting(text: str) -> int:
        calls.append(text)
        return words(text)

    sections = [Section(f"S{i}", f"S{i}: " + "word " * 20 + "\n") for i in range(200)]
    chunks = chunk_sections(sections, 100, counting)
    assert "".join(chunks) == "".join(s.text for s in sections)
    assert len(calls) <= len(sections) + len(chunks)


def test_empty_input_gives_no_chunks_and_bad_budget_is_refused():
    assert chunk_sections([], 10, words) == []
    with pytest.raises(ValueError):
        chunk_sections([Section(None, "x")], 0, words)
