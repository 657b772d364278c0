"""Engine outputs -> validated abstractions with a status per note."""

from __future__ import annotations

import json
from dataclasses import dataclass

from jsonschema import Draft202012Validator

OK, INVALID_JSON, TRUNCATED, ERROR = "ok", "invalid_json", "truncated", "error"


@dataclass(frozen=True)
class Validated:
    status: str
    abstraction: str  # canonical JSON when valid, else the raw model output (kept, never dropped)
    detail: str | None  # why it is not ok (no note text)


class AbstractionValidator:
    def __init__(self, schema: dict):
        self._validator = Draft202012Validator(schema)

    def validate(self, raw: str, finish_reason: str | None, input_truncated: bool = False) -> Validated:
        """`truncated` when the output hit max_tokens or the note was cut to fit; else ok / invalid_json."""
        if finish_reason == "length":
            return Validated(TRUNCATED, raw, "output reached max_tokens")
        try:
            parsed = json.loads(raw)
        except json.JSONDecodeError as exc:
            return Validated(INVALID_JSON, raw, f"not JSON: {exc.msg} at char {exc.pos}")
        errors = sorted(self._validator.iter_errors(parsed), key=lambda e: list(e.path))
        if errors:
            where = "/".join(str(p) for p in errors[0].path) or "(root)"
            return Validated(INVALID_JSON, raw, f"schema: {errors[0].validator} failed at {where}")
        canonical = json.dumps(parsed, separators=(",", ":"), sort_keys=True)
        if input_truncated:
            return Validated(TRUNCATED, canonical, "note cut to fit the context window")
        return Validated(OK, canonical, None)
