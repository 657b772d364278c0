"""A note -> its prompt(s): sections the abstraction does not need left out, and a note over the context
budget split into chunks (each its own prompt; their outputs are merged back in udfs/chunk_merge.py), cut
between sentences (Spark NLP's, where the notes carry `sentence_starts`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from udfs.engine import Engine
from udfs.prompts import Prompt, PromptTemplate, fit_prompt
from udfs.sections import chunk_sections, drop_sections, normalise_header, split_sections

CHUNK_MARGIN_TOKENS = 16  # chunk token counts are summed per piece: leave room for joins and the template
SENTENCE_STARTS = "sentence_starts"  # the notes' column of sentence start offsets, where Spark NLP split them


@dataclass(frozen=True)
class Preprocessing:
    drop_sections: frozenset[str] = frozenset()  # normalised section headers
    chunk_long_notes: bool = True
    # what cut the sentences: the notes' SENTENCE_STARTS column where they carry one (spark_nlp), else a regex
    # (python); a name for the output cache's key, the cuts themselves follow the column
    sentence_boundaries: str = "python"


@dataclass(frozen=True)
class NotePrompts:
    prompts: list[Prompt]  # one per chunk, as the engine receives them (text and token ids)
    input_truncated: bool  # some text was cut to fit (only when chunking is off, or a chunk still overflowed)
    sections_dropped: int


def note_prompts(
    template: PromptTemplate, text: str, note_type: str | None, engine: Engine, max_prompt_tokens: int,
    preprocessing: Preprocessing, sentence_starts: Sequence[int] | None = None,
) -> NotePrompts:
    """The note's prompts within `max_prompt_tokens` each (counted with the engine's chat template and tokenizer);
    a long note is cut between sentences (at `sentence_starts`, positions in `text`, when given)."""
    render, count_tokens = engine.render, lambda part: len(engine.tokenize(part))
    sections = split_sections(text)
    kept = drop_sections(sections, preprocessing.drop_sections) if preprocessing.drop_sections else sections
    dropped = len(sections) - len(kept)
    body = "".join(s.text for s in kept)
    fit = lambda part: fit_prompt(template, part, note_type, render, engine.tokenize, max_prompt_tokens)  # noqa: E731
    whole = fit(body)
    if not (whole.input_truncated and preprocessing.chunk_long_notes):
        return NotePrompts([whole], whole.input_truncated, dropped)
    overhead = count_tokens(render(template.messages("", note_type)))
    chunks = chunk_sections(kept, max_prompt_tokens - overhead - CHUNK_MARGIN_TOKENS, count_tokens, sentence_starts)
    fitted = [fit(chunk) for chunk in chunks]
    return NotePrompts(fitted, any(p.input_truncated for p in fitted), dropped)


def normalised_headers(headers: list[str]) -> frozenset[str]:
    """Configured section names in the form split_sections gives them (upper case, single spaces, no colon)."""
    return frozenset(normalise_header(h) for h in headers)

