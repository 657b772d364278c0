import json

from tests.fakes import VALID_OUTPUT
from udfs.abstraction import AbstractionValidator
from udfs.prompts import PromptTemplate, fit_prompt

TEMPLATE = PromptTemplate(version="t1", system="Abstract the note.", user="Type: {note_type}\n{text}")
SCHEMA = json.load(open("conf/abstraction_schema.json"))


def words(s: str) -> list[str]:
    """A tokenizer of whitespace-separated words."""
    return s.split()


def render(messages):
    return " ".join(m["content"] for m in messages)


def test_prompt_carries_note_and_type():
    prompt = fit_prompt(TEMPLATE, "chest pain today", "ed_note", render, words, 100)
    assert "chest pain today" in prompt.text and "ed_note" in prompt.text and not prompt.input_truncated
    assert prompt.token_ids == words(prompt.text)  # the engine gets the tokens counted here, not a second pass


def test_missing_note_type_is_unspecified():
    assert "unspecified" in fit_prompt(TEMPLATE, "x", None, render, words, 100).text


def test_long_note_is_cut_to_the_budget_and_flagged():
    text = "word " * 5000
    prompt = fit_prompt(TEMPLATE, text, "op_note", render, words, 300)
    assert len(words(prompt.text)) <= 300 and prompt.input_truncated and prompt.token_ids == words(prompt.text)


def test_valid_output_is_ok_and_canonical():
    result = AbstractionValidator(SCHEMA).validate(VALID_OUTPUT, "stop")
    assert result.status == "ok" and json.loads(result.abstraction) == json.loads(VALID_OUTPUT)


def test_output_cut_by_max_tokens_is_truncated_and_kept():
    result = AbstractionValidator(SCHEMA).validate('{"problems": ["a"', "length")
    assert result.status == "truncated" and result.abstraction == '{"problems": ["a"'


def test_unparseable_and_off_schema_outputs_are_invalid_json():
    validator = AbstractionValidator(SCHEMA)
    assert validator.validate("not json", "stop").status == "invalid_json"
    off_schema = validator.validate('{"problems": []}', "stop")
    assert off_schema.status == "invalid_json" and "required" in off_schema.detail


def test_note_cut_to_fit_marks_a_valid_output_truncated():
    assert AbstractionValidator(SCHEMA).validate(VALID_OUTPUT, "stop", input_truncated=True).status == "truncated"
