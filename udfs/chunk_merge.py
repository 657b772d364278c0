"""The abstractions of one note's chunks -> one abstraction, driven by the schema's property types."""

from __future__ import annotations

import json
from typing import Any

UNKNOWN = "unknown"
_TRAILING = " \t\r\n.,;:!?"


def merge_abstractions(parts: list[dict], schema: dict) -> dict:
    """Merge parsed, schema-valid chunk abstractions, in chunk order, into one that is valid too.

    Arrays are concatenated and de-duplicated (strings case-, space- and trailing-punctuation-insensitively;
    objects with a `name` by that name, keeping the first entry with no empty field), then cut to `maxItems`.
    A string enum takes the first value other than "unknown", else "unknown".
    """
    merged = {}
    for name, spec in _properties(parts, schema):
        values = [part[name] for part in parts if name in part]
        if not values:
            continue
        if spec.get("type") == "array":
            merged[name] = _merge_array(values)[: spec.get("maxItems")]
        elif spec.get("type") == "string" and "enum" in spec:
            merged[name] = next((v for v in values if v != UNKNOWN), values[0])
        else:
            raise ValueError(f"cannot merge property {name!r} of type {spec.get('type')!r}")
    return merged


def _properties(parts: list[dict], schema: dict) -> list[tuple[str, dict]]:
    if not parts:
        raise ValueError("no chunk abstractions to merge")
    return list(schema["properties"].items())


def _merge_array(values: list[list]) -> list:
    """Concatenate, then keep one item per key (first position; for objects, the first one with no empty field)."""
    kept: dict[str, Any] = {}
    for item in (item for value in values for item in value):
        key = _key(item)
        if key not in kept or (_has_empty(kept[key]) and not _has_empty(item)):
            kept[key] = item
    return list(kept.values())


def _key(item: Any) -> str:
    if isinstance(item, dict) and isinstance(item.get("name"), str):
        return _norm(item["name"])
    if isinstance(item, str):
        return _norm(item)
    return json.dumps(item, sort_keys=True)


def _norm(text: str) -> str:
    return " ".join(text.split()).rstrip(_TRAILING).casefold()


def _has_empty(item: Any) -> bool:
    return isinstance(item, dict) and any(v in ("", None, []) for v in item.values())
