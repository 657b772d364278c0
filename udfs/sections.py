"""Notes -> sections (by capitalised headers) -> token-bounded chunks, before prompting.

Plain Python: it runs on the executors inside the mapInPandas function, with the model's tokenizer as
`count_tokens`. Every step keeps the note's characters: joining the sections, or the chunks, gives the text back.
A section too long for the budget is cut between sentences: where a regex sees sentence ends, or at the sentence
starts Spark NLP's SentenceDetector found (notewatt/nlp_stage.py), when the notes come with them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Iterable, Sequence

# A header: 1-6 words of capitals (a word starts with a letter; digits, / & ' - inside; a lone & / - between words),
# then ':' and an optional ',' (the MTSamples export writes `SUBJECTIVE:,`). MTSamples reports are one line, so
# besides the start of a line a header may follow a sentence end or another header (`wrist. POSTOPERATIVE
# DIAGNOSIS:`), or a lower-case word or number when it starts with 3+ capitals (`General COMPLICATIONS: None`).
_WORD = r"[A-Z][A-Z0-9/&'\-]*"
_HEADER = re.compile(
    rf"""
    (?: ^[ \t]*
      | (?<=[.!?:;])[ \t]+
      | (?<=[a-z0-9)\]])[ \t]+(?=[A-Z]{{3}})
    )
    (?P<header>{_WORD}(?:[ \t]+(?:[&/\-][ \t]+)?{_WORD}){{0,5}})
    [ \t]*:,?
    """,
    re.MULTILINE | re.VERBOSE,
)
# Where an oversize section may be cut: after a sentence end and its spaces, or after a run of line breaks.
_PIECE_END = re.compile(r"[.!?]+[\"')\]]*\s+|\n+")


@dataclass(frozen=True)
class Section:
    header: str | None  # normalised (upper-case, single spaces, no colon); None for the text before the first header
    text: str  # the section's original text, header included
    start: int = 0  # where it starts in the note


def normalise_header(header: str) -> str:
    """`History  of present illness:,` -> `HISTORY OF PRESENT ILLNESS`."""
    return " ".join(header.upper().rstrip(" \t,:").split())


def split_sections(text: str) -> list[Section]:
    """Split a note at its headers; the text before the first header (a title, say) is a section with no header."""
    matches = list(_HEADER.finditer(text))
    starts = [m.start("header") for m in matches]
    sections = [Section(None, text[: starts[0] if starts else len(text)])]
    for match, start, end in zip(matches, starts, starts[1:] + [len(text)]):
        sections.append(Section(normalise_header(match.group("header")), text[start:end], start))
    return [s for s in sections if s.text]


def drop_sections(sections: Iterable[Section], drop: frozenset[str]) -> list[Section]:
    """The sections whose header is not in `drop` (compared normalised); the preamble is always kept."""
    dropped = {normalise_header(h) for h in drop}
    return [s for s in sections if s.header is None or s.header not in dropped]


def chunk_sections(
    sections: Iterable[Section], max_tokens: int, count_tokens: Callable[[str], int],
    sentence_starts: Sequence[int] | None = None,
) -> list[str]:
    """Pack consecutive sections into chunks of at most `max_tokens`, cutting a section only when it alone is over:
    between sentences (at `sentence_starts`, positions in the note, when given), else between characters.

    Each section (or piece of one) is counted once, and pieces are packed by the sum of their counts, which for
    a subword tokenizer is close to, and usually at least, the count of their concatenation. Each chunk is then
    counted once more; the rare chunk still over the budget hands its last piece on to the next chunk.
    """
    if max_tokens < 1:
        raise ValueError(f"max_tokens must be positive, got {max_tokens}")
    pieces: list[tuple[str, int]] = []
    for section in sections:
        if section.text:
            pieces.extend(_fit(section.text, sentence_cuts(section, sentence_starts), max_tokens, count_tokens))
    chunks: list[str] = []
    first = 0
    while first < len(pieces):
        end, total = first + 1, pieces[first][1]
        while end < len(pieces) and total + pieces[end][1] <= max_tokens:
            total += pieces[end][1]
            end += 1
        while end - first > 1 and count_tokens("".join(p for p, _ in pieces[first:end])) > max_tokens:
            end -= 1
        chunks.append("".join(p for p, _ in pieces[first:end]))
        first = end
    return chunks


def sentence_cuts(section: Section, sentence_starts: Sequence[int] | None) -> list[int]:
    """Where the section may be cut, as positions in it: after each sentence end and run of line breaks the
    regex finds, or at the given sentence starts."""
    end = section.start + len(section.text)
    if sentence_starts is None:
        return [m.end() for m in _PIECE_END.finditer(section.text) if m.end() < len(section.text)]
    return [s - section.start for s in sentence_starts if section.start < s < end]


def _fit(text: str, cuts: list[int], max_tokens: int, count_tokens: Callable[[str], int]) -> list[tuple[str, int]]:
    """`text` as pieces of at most `max_tokens` each, with their counts: whole, else cut at `cuts`, else by chars."""
    tokens = count_tokens(text)
    if tokens <= max_tokens:
        return [(text, tokens)]
    if cuts:
        bounds = [0, *cuts, len(text)]
        return [piece for a, b in zip(bounds, bounds[1:]) for piece in _fit(text[a:b], [], max_tokens, count_tokens)]
    return _split_chars(text, tokens, max_tokens, count_tokens)


def _split_chars(text: str, tokens: int, max_tokens: int, count_tokens: Callable[[str], int]) -> list[tuple[str, int]]:
    """Cut a text with no sentence end into slices that fit, preferring to cut after a space."""
    pieces: list[tuple[str, int]] = []
    rate = tokens / len(text)  # tokens per character, re-estimated from each slice that is over
    while text:
        size = min(len(text), max(1, int(max_tokens / rate * 0.9)))
        while True:
            space = text.rfind(" ", size // 2, size)
            piece = text[: space + 1] if 0 < space < size - 1 and size < len(text) else text[:size]
            count = count_tokens(piece)
            if count <= max_tokens:
                break
            if size == 1:
                raise ValueError(f"one character counts {count} tokens, over the budget of {max_tokens}")
            rate = max(rate, count / len(piece))
            size = max(1, min(size - 1, int(max_tokens / rate * 0.9)))
        pieces.append((piece, count))
        text = text[len(piece):]
    return pieces
