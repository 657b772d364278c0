"""Engine outputs -> validated abstractions with a status per note."""

from __future__ import annotations

import json
from dataclasses import dataclass

from jsonschema import Draft202012Validator

from udfs.chunk_merge import merge_abstractions

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
        canonical = _canonical(parsed)
        if input_truncated:
            return Validated(TRUNCATED, canonical, "note cut to fit the context window")
        return Validated(OK, canonical, None)


def _canonical(parsed: dict) -> str:
    return json.dumps(parsed, separators=(",", ":"), sort_keys=True)


def combine_chunks(results: list[Validated], schema: dict) -> Validated:
    """One note's result from its chunks' results: the valid chunks' abstractions merged; the note takes the
    first failing chunk's status (and says which chunk), else ok."""
    if len(results) == 1:
        return results[0]
    valid = [json.loads(r.abstraction) for r in results if r.status == OK]
    merged = _canonical(merge_abstractions(valid, schema)) if valid else None
    failed = next(((i, r) for i, r in enumerate(results) if r.status != OK), None)
    if failed is None:
        return Validated(OK, merged, None)
    index, first = failed
    return Validated(first.status, merged or first.abstraction, f"chunk {index + 1} of {len(results)}: {first.detail}")
