"""Screen notes before inference: bad input is quarantined with a reason, odd input is flagged, none is lost.

    screened = screen_notes(read_notes(spark, path), run_id, max_chars=...)
    screened.clean        -> to the model (text cleaned of HTML, plus input_flags)
    screened.quarantine   -> written as is; never sent to the model
    reconcile(notes_in, abstracted, quarantined)   # notes_in = notes_abstracted + notes_quarantined

Quarantined (one reason per row, checked in this order; the description never holds note text):
  malformed_record    the JSONL line / CSV row could not be parsed (corpus.read_notes keeps it in
                      PERMISSIVE mode); keyed `row-<sha256(raw record)[:16]>`, text_chars is the raw length.
                      If the raw record holds U+FFFD the reason is invalid_utf8 instead (Spark's JSON
                      reader fails on undecodable bytes where the CSV reader substitutes U+FFFD).
  missing_note_id     note_id null or blank; keyed `row-<sha256(text, note_type, patient_id, encounter_date)[:16]>`.
  empty_text          text null, empty or whitespace only, before or after HTML cleaning.
  invalid_utf8        text holds U+FFFD, the character Spark's readers put for bytes that are not UTF-8.
  control_characters  text holds any C0 control character other than tab, LF and CR (U+0000-U+0008,
                      U+000B, U+000C, U+000E-U+001F) or DEL: even one such character marks binary or
                      mis-encoded data, so the rule is "contains", not a share.
  duplicate_note_id   among notes that passed every check above, a note_id seen more than once: the copy
                      with the smallest sha256(text) (then of the whole row) is kept and the rest
                      quarantined; the description says whether a copy's text is identical to the kept one.

Flagged, still abstracted (input_flags, array<string>, on the clean frame; empty when none):
  html_markup       HTML tags of a known tag name, comments or entities: tags are stripped (block tags
                    become line breaks, script/style content is dropped), entities unescaped, before prompting.
  too_long          the cleaned text is longer than max_chars (see max_chars_for): fit_prompt will cut it,
                    and the note's output gets status `truncated` / input_truncated.
  non_english       at least 40 letters, and under 80 % of them ASCII, or (of 20+ words) under 5 % from a
                    short list of English function and clinical words (ENGLISH_WORDS). A cheap hint only.
  instruction_like  the text matches one of INSTRUCTION_PATTERNS ("ignore previous instructions",
                    "disregard the above", "system prompt", "you are now a ...", chat-template tokens).
                    The prompt keeps the note as data; the flag is for review of the output.

Columns: only note_id, text, note_type, patient_id, encounter_date, source_file and `_corrupt_record`
(see corpus.read_notes) are read; any other column is ignored and not carried on. The raw corrupt record
never leaves this module.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field

import pandas as pd
from pyspark import StorageLevel
from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from notewatt.corpus import CORRUPT_RECORD, OPTIONAL_COLUMNS, REQUIRED_COLUMNS, SOURCE_FILE, CorpusError

MALFORMED_RECORD = "malformed_record"
MISSING_NOTE_ID = "missing_note_id"
EMPTY_TEXT = "empty_text"
INVALID_UTF8 = "invalid_utf8"
CONTROL_CHARACTERS = "control_characters"
DUPLICATE_NOTE_ID = "duplicate_note_id"
REASONS = (MALFORMED_RECORD, MISSING_NOTE_ID, EMPTY_TEXT, INVALID_UTF8, CONTROL_CHARACTERS, DUPLICATE_NOTE_ID)

HTML_MARKUP = "html_markup"
TOO_LONG = "too_long"
NON_ENGLISH = "non_english"
INSTRUCTION_LIKE = "instruction_like"
FLAGS = (HTML_MARKUP, TOO_LONG, NON_ENGLISH, INSTRUCTION_LIKE)

QUARANTINE_SCHEMA = (
    "run_id string, note_id string, reason string, description string, source_file string, text_chars int"
)
CLEAN_COLUMNS = ("note_id", "text", *OPTIONAL_COLUMNS, SOURCE_FILE, "input_flags")

CHARS_PER_TOKEN = 4.0  # rough English average for Llama-style tokenizers
DEFAULT_MAX_CHARS = 24_000

# Regexes below are written to mean the same in Java (Spark SQL) and Python (clean_html).
REPLACEMENT_CHAR = "\ufffd"
CONTROL_PATTERN = r"[\x00-\x08\x0B\x0C\x0E-\x1F\x7F]"
BLANK_PATTERN = r"\A[\s\p{Z}]*\z"
HTML_TAG_NAMES = (
    "a|abbr|b|big|blockquote|body|br|caption|center|code|col|colgroup|dd|div|dl|dt|em|font|footer|h[1-6]|head|"
    "header|hr|html|i|img|li|link|meta|ol|p|pre|s|script|section|small|span|strike|strong|style|sub|sup|table|"
    "tbody|td|tfoot|th|thead|title|tr|tt|u|ul"
)
HTML_TAG = rf"</?(?:{HTML_TAG_NAMES})\b[^<>]*>"
HTML_ENTITY = (
    r"&(?:#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|amp|lt|gt|quot|apos|nbsp|ndash|mdash|deg|plusmn|micro|middot|"
    r"bull|hellip|lsquo|rsquo|ldquo|rdquo|times|divide|frac12|frac14|le|ge|ne|copy|reg|trade);"
)
HTML_PATTERN = rf"(?i)<!--|<!doctype\b|{HTML_TAG}|{HTML_ENTITY}"
INSTRUCTION_PATTERNS = (
    r"\bignore\s+(?:all\s+|any\s+)?(?:of\s+)?(?:the\s+|your\s+|my\s+)?(?:previous|prior|above|preceding|earlier"
    r"|foregoing)\s+(?:instructions?|prompts?|directions?|rules|messages?|text)",
    r"\bdisregard\s+(?:all\s+|any\s+)?(?:of\s+)?(?:the\s+|your\s+)?(?:previous|prior|above|preceding|earlier"
    r"|foregoing)\b",
    r"\bforget\s+(?:all\s+|everything\s+)?(?:about\s+)?(?:your|the|previous|prior)\s+(?:instructions|rules|prompt)",
    r"\bsystem\s+prompt\b",
    r"\byou\s+are\s+now\s+(?:an?\s|acting\b|my\b|no\s+longer\b|in\s+\w+\s+mode\b)",
    r"\bnew\s+instructions?\s*:",
    r"<\|(?:im_start|im_end|system|user|assistant|endoftext|eot_id)\|>|\[/?INST\]|<</?SYS>>",
)
INSTRUCTION_PATTERN = "(?i)" + "|".join(f"(?:{p})" for p in INSTRUCTION_PATTERNS)
ENGLISH_WORDS = tuple(
    "the and of to with for on is was were has had have he she his her not without denies reports history pain "
    "daily left right normal at by from this that or as be an are after will plan assessment exam since today "
    "noted given twice once year old male female man woman shortness breath chest blood pressure".split()
)
NON_ENGLISH_MIN_LETTERS, NON_ENGLISH_MIN_WORDS = 40, 20
MIN_ASCII_LETTER_SHARE, MIN_ENGLISH_WORD_SHARE = 0.8, 0.05


class ReconciliationError(AssertionError):
    """notes_in != notes_abstracted + notes_quarantined: a note was lost or counted twice."""


@dataclass(frozen=True)
class ScreenCounts:
    notes_in: int  # every record read, malformed ones included
    clean: int
    quarantined: int
    by_reason: dict[str, int]


@dataclass(frozen=True)
class Screened:
    clean: DataFrame  # CLEAN_COLUMNS: what goes to the model
    quarantine: DataFrame  # QUARANTINE_SCHEMA: never sent to the model
    rows: DataFrame = field(repr=False)  # every input row with its reason (null when clean); holds text

    def counts(self) -> ScreenCounts:
        """One aggregation over every input row: notes_in, clean, quarantined and per-reason counts."""
        by_reason = {r["reason"]: r["count"] for r in self.rows.groupBy("reason").count().collect()}
        clean = by_reason.pop(None, 0)
        quarantined = sum(by_reason.values())
        return ScreenCounts(clean + quarantined, clean, quarantined, dict(sorted(by_reason.items())))

    def persist(self) -> "Screened":
        """Cache the screened rows, so clean, quarantine and counts() read and screen the corpus once."""
        self.rows.persist(StorageLevel.MEMORY_AND_DISK)
        return self

    def unpersist(self) -> None:
        self.rows.unpersist()


def max_chars_for(prompt_tokens: int, chars_per_token: float = CHARS_PER_TOKEN) -> int:
    """A character budget for the too_long flag from the prompt's token budget (max_model_len - max_tokens)."""
    return int(prompt_tokens * chars_per_token)


def reconcile(notes_in: int, abstracted: int, quarantined: int) -> dict[str, int]:
    """The roll-up's counts, after checking notes_in = notes_abstracted + notes_quarantined."""
    if notes_in != abstracted + quarantined:
        raise ReconciliationError(
            f"notes_in {notes_in} != notes_abstracted {abstracted} + notes_quarantined {quarantined}"
        )
    return {"notes_in": notes_in, "notes_abstracted": abstracted, "notes_quarantined": quarantined}


def screen_notes(notes: DataFrame, run_id: str, max_chars: int = DEFAULT_MAX_CHARS) -> Screened:
    """Split read_notes' frame into clean notes (flagged, HTML cleaned) and quarantined rows with reasons."""
    rows = _with_reasons(_checked(_conformed(notes)))
    passed = F.col("reason").isNull()
    clean = rows.where(passed).select(
        "note_id", F.col("_clean_text").alias("text"), *OPTIONAL_COLUMNS, SOURCE_FILE,
        _flags(max_chars).alias("input_flags"),
    )
    quarantine = rows.where(~passed).select(
        F.lit(run_id).cast("string").alias("run_id"),
        F.col("_key").alias("note_id"),
        "reason",
        _description().alias("description"),
        F.col(SOURCE_FILE),
        F.when(F.col(CORRUPT_RECORD).isNotNull(), F.length(CORRUPT_RECORD))
        .otherwise(F.length("text")).cast("int").alias("text_chars"),
    )
    return Screened(clean, quarantine, rows)


def _conformed(notes: DataFrame) -> DataFrame:
    """The columns screening reads, as strings; absent optional ones are null."""
    missing = [c for c in REQUIRED_COLUMNS if c not in notes.columns]
    if missing:
        raise CorpusError(f"notes lack required column(s) {missing}; found {sorted(notes.columns)}")
    optional = (*OPTIONAL_COLUMNS, SOURCE_FILE, CORRUPT_RECORD)
    return notes.select(
        *[F.col(c).cast("string") for c in REQUIRED_COLUMNS],
        *[(F.col(c) if c in notes.columns else F.lit(None)).cast("string").alias(c) for c in optional],
    )


def _count(column: str | Column, pattern: str) -> Column:
    """How many characters of `column` match a one-character regex."""
    column = F.col(column) if isinstance(column, str) else column
    return F.length(column) - F.length(F.regexp_replace(column, pattern, ""))


def _blank(column: str) -> Column:
    return F.col(column).isNull() | F.col(column).rlike(BLANK_PATTERN)


def _short_hash(column: Column) -> Column:
    return F.concat(F.lit("row-"), F.substring(F.sha2(column, 256), 1, 16))


def _checked(frame: DataFrame) -> DataFrame:
    """Per-row facts: HTML-cleaned text, counts of bad characters, the per-row reason and the note's key."""
    raw, text = F.col(CORRUPT_RECORD), F.col("text")
    html_found = F.coalesce(text.rlike(HTML_PATTERN), F.lit(False))
    frame = frame.withColumns({
        "_html": html_found,
        "_clean_text": F.when(html_found, _clean_html_udf()(F.when(html_found, text))).otherwise(text),
        "_bad_bytes": _count(F.coalesce(raw, text), REPLACEMENT_CHAR),
        "_controls": _count(text, CONTROL_PATTERN),
        "_first_control": F.ascii(F.regexp_extract(text, f"({CONTROL_PATTERN})", 1)),
    })
    content = F.to_json(F.struct("text", *OPTIONAL_COLUMNS))
    return frame.withColumns({
        "_row_reason": F.when(raw.isNotNull() & (F.col("_bad_bytes") > 0), INVALID_UTF8)
        .when(raw.isNotNull(), MALFORMED_RECORD)
        .when(_blank("note_id"), MISSING_NOTE_ID)
        .when(_blank("text"), EMPTY_TEXT)
        .when(F.col("_bad_bytes") > 0, INVALID_UTF8)
        .when(F.col("_controls") > 0, CONTROL_CHARACTERS)
        .when(_blank("_clean_text"), EMPTY_TEXT),
        "_key": F.when(raw.isNotNull(), _short_hash(raw))
        .when(_blank("note_id"), _short_hash(content))
        .otherwise(F.col("note_id")),
        "_text_hash": F.sha2(F.coalesce(text, F.lit("")), 256),
        "_row_hash": F.sha2(F.to_json(F.struct("text", *OPTIONAL_COLUMNS, SOURCE_FILE)), 256),
    })


def _with_reasons(frame: DataFrame) -> DataFrame:
    """Add duplicate_note_id among the rows that passed every per-row check: the first copy by text hash stays."""
    ordered = Window.partitionBy("_key", F.col("_row_reason").isNull()).orderBy("_text_hash", "_row_hash")
    whole = ordered.rowsBetween(Window.unboundedPreceding, Window.unboundedFollowing)
    frame = frame.withColumns({
        "_copy": F.row_number().over(ordered),
        "_copies": F.count(F.lit(1)).over(whole),
        "_kept_hash": F.first("_text_hash").over(whole),
    })
    duplicate = F.col("_row_reason").isNull() & (F.col("_copy") > 1)
    return frame.withColumn("reason", F.coalesce(F.col("_row_reason"), F.when(duplicate, DUPLICATE_NOTE_ID)))


def _description() -> Column:
    """A short reason in words: counts and ids only, never note text."""
    reason = F.col("reason")
    text_chars = F.coalesce(F.length("text"), F.lit(0))
    duplicate = F.format_string(
        "note_id occurs %d times among notes that passed the other checks; one copy is abstracted and this "
        "copy's text %s it",
        F.col("_copies"),
        F.when(F.col("_text_hash") == F.col("_kept_hash"), "is identical to").otherwise("differs from"),
    )
    return (
        F.when(F.col(CORRUPT_RECORD).isNotNull() & (reason == INVALID_UTF8), F.format_string(
            "the reader could not parse this record (%d chars): it has %d undecodable byte sequence(s) shown as "
            "U+FFFD; keyed by a hash of the raw record", F.length(CORRUPT_RECORD), F.col("_bad_bytes")))
        .when(reason == MALFORMED_RECORD, F.format_string(
            "the reader could not parse this record (%d chars); keyed by a hash of the raw record",
            F.length(CORRUPT_RECORD)))
        .when(reason == MISSING_NOTE_ID, F.lit("note_id is null or blank; keyed by a hash of the row"))
        .when((reason == EMPTY_TEXT) & F.col("text").isNull(), F.lit("text is null"))
        .when((reason == EMPTY_TEXT) & _blank("text"), F.format_string(
            "text is empty or whitespace only (%d chars)", text_chars))
        .when(reason == EMPTY_TEXT, F.format_string(
            "text has nothing but HTML markup (%d chars)", text_chars))
        .when(reason == INVALID_UTF8, F.format_string(
            "text has %d U+FFFD replacement character(s): bytes that were not valid UTF-8", F.col("_bad_bytes")))
        .when(reason == CONTROL_CHARACTERS, F.format_string(
            "text has %d control character(s) other than tab, LF and CR (first U+%04X)",
            F.col("_controls"), F.col("_first_control")))
        .when(reason == DUPLICATE_NOTE_ID, duplicate)
    )


def _flags(max_chars: int) -> Column:
    """input_flags for a clean row: the flags that apply, in FLAGS order."""
    text = F.col("_clean_text")
    return F.array_compact(F.array(
        F.when(F.col("_html"), F.lit(HTML_MARKUP)),
        F.when(F.length(text) > max_chars, F.lit(TOO_LONG)),
        F.when(_non_english(text), F.lit(NON_ENGLISH)),
        F.when(text.rlike(INSTRUCTION_PATTERN), F.lit(INSTRUCTION_LIKE)),
    )).cast("array<string>")


def _non_english(text: Column) -> Column:
    """Enough letters, and few of them ASCII or few words from ENGLISH_WORDS (see the module docstring)."""
    letters = F.length(F.regexp_replace(text, r"\P{L}", ""))
    ascii_letters = F.length(F.regexp_replace(text, "[^A-Za-z]", ""))
    words = F.filter(F.split(F.lower(text), r"\P{L}+"), lambda w: w != "")
    english = F.size(F.filter(words, lambda w: w.isin(*ENGLISH_WORDS)))
    few_ascii = ascii_letters < letters * MIN_ASCII_LETTER_SHARE
    few_english = (F.size(words) >= NON_ENGLISH_MIN_WORDS) & (english < F.size(words) * MIN_ENGLISH_WORD_SHARE)
    return (letters >= NON_ENGLISH_MIN_LETTERS) & (few_ascii | few_english)


_COMMENT = re.compile(r"<!--.*?(?:-->|\Z)", re.S)
_HIDDEN = re.compile(r"<(script|style|head)\b[^<>]*>.*?</\1\s*>", re.I | re.S)
_BREAK = re.compile(
    r"<(?:br|hr)\b[^<>]*>|</?(?:p|div|li|tr|h[1-6]|table|ul|ol|dl|dd|dt|blockquote|pre|section|header|footer|"
    r"caption|title|body|html)\b[^<>]*>",
    re.I,
)
_CELL_END = re.compile(r"</t[dh]\s*>", re.I)
_TAG = re.compile(rf"{HTML_TAG}|<!doctype\b[^<>]*>", re.I)
_SPACES = re.compile(r"[ \t]+")
_BLANK_LINES = re.compile(r"\n\s*\n(?:\s*\n)+")


def clean_html(text: str) -> str:
    """Text without HTML: comments, script/style/head dropped; block tags to line breaks; entities unescaped."""
    text = _HIDDEN.sub("", _COMMENT.sub("", text))
    text = _TAG.sub("", _CELL_END.sub(" ", _BREAK.sub("\n", text)))
    text = html.unescape(text).replace("\xa0", " ")
    lines = (_SPACES.sub(" ", line).strip() for line in text.splitlines())
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()


def _clean_html_udf():
    @F.pandas_udf("string")
    def clean(texts: pd.Series) -> pd.Series:
        return texts.map(lambda t: clean_html(t) if isinstance(t, str) else None)

    return clean
