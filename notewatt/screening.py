"""Screen notes before inference: bad input is quarantined with a reason, odd input is flagged, none is lost.

    screened = screen_notes(read_notes(spark, path), run_id, max_chars=..., screening=config.screening)
    screened.clean        -> to the model (text cleaned of HTML, plus input_flags: notewatt/input_flags.py)
    screened.quarantine   -> written as is; never sent to the model
    screened.counts()     -> notes_in, clean, quarantined, per reason (the pipeline reconciles them)

Quarantined (one reason per row, checked in this order; the description never holds note text):
  malformed_record    the JSONL line / CSV row could not be parsed (corpus.read_notes keeps it in
                      PERMISSIVE mode); keyed `row-<sha256(raw record)[:16]>`, text_chars is the raw length.
                      If the raw record holds U+FFFD the reason is invalid_utf8 instead (Spark's JSON
                      reader fails on undecodable bytes where the CSV reader substitutes U+FFFD).
  missing_note_id     note_id null or blank; keyed `row-<sha256(text, note_type, patient_id, encounter_date)[:16]>`.
  empty_text          text null, empty or whitespace only, before or after HTML cleaning.
  invalid_utf8        more than `max_replacement_share` of the text is U+FFFD, the character Spark's readers
                      put for bytes that are not UTF-8: mostly undecodable. A few (a lost apostrophe in good
                      text) are abstracted and flagged `replacement_characters` instead.
  control_characters  text holds any C0 control character other than tab, LF and CR (U+0000-U+0008,
                      U+000B, U+000C, U+000E-U+001F) or DEL: even one such character marks binary or
                      mis-encoded data, so the rule is "contains", not a share.
  duplicate_note_id   among notes that passed every check above, a note_id seen more than once: the copy
                      with the smallest sha256(text) (then of the whole row) is kept and the rest
                      quarantined; the description says whether a copy's text is identical to the kept one.

Columns: only note_id, text, note_type, patient_id, encounter_date, source_file and `_corrupt_record`
(see corpus.read_notes) are read; any other column is ignored and not carried on. The raw corrupt record
never leaves this module.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pyspark import StorageLevel
from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from notewatt.config import ScreeningConfig
from notewatt.corpus import CORRUPT_RECORD, OPTIONAL_COLUMNS, REQUIRED_COLUMNS, SOURCE_FILE, CorpusError
from notewatt.input_flags import DEFAULT_MAX_CHARS, input_flags
from udfs.html_text import HTML_PATTERN, clean_html_texts

MALFORMED_RECORD = "malformed_record"
MISSING_NOTE_ID = "missing_note_id"
EMPTY_TEXT = "empty_text"
INVALID_UTF8 = "invalid_utf8"
CONTROL_CHARACTERS = "control_characters"
DUPLICATE_NOTE_ID = "duplicate_note_id"

CLEAN_COLUMNS = ("note_id", "text", *OPTIONAL_COLUMNS, SOURCE_FILE, "input_flags")

# Regexes below are written to mean the same in Java (Spark SQL).
REPLACEMENT_CHAR = "\ufffd"
CONTROL_PATTERN = r"[\x00-\x08\x0B\x0C\x0E-\x1F\x7F]"
BLANK_PATTERN = r"\A[\s\p{Z}]*\z"


@dataclass(frozen=True)
class ScreenCounts:
    notes_in: int  # every record read, malformed ones included
    clean: int
    quarantined: int
    by_reason: dict[str, int]


@dataclass(frozen=True)
class Screened:
    clean: DataFrame  # CLEAN_COLUMNS: what goes to the model
    quarantine: DataFrame  # the quarantine table's rows (notewatt/tables.py): never sent to the model
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


def screen_notes(
    notes: DataFrame, run_id: str, max_chars: int = DEFAULT_MAX_CHARS, screening: ScreeningConfig = ScreeningConfig(),
) -> Screened:
    """Split read_notes' frame into clean notes (flagged, HTML cleaned) and quarantined rows with reasons."""
    rows = _with_reasons(_checked(_conformed(notes), screening.max_replacement_share))
    passed = F.col("reason").isNull()
    flags = input_flags(F.col("_clean_text"), F.col("_html"), F.col("_bad_bytes"), max_chars)
    clean = rows.where(passed).select(
        "note_id", F.col("_clean_text").alias("text"), *OPTIONAL_COLUMNS, SOURCE_FILE, flags.alias("input_flags"),
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


def _checked(frame: DataFrame, max_replacement_share: float) -> DataFrame:
    """Per-row facts: HTML-cleaned text, counts of bad characters, the per-row reason and the note's key."""
    raw, text = F.col(CORRUPT_RECORD), F.col("text")
    html_found = F.coalesce(text.rlike(HTML_PATTERN), F.lit(False))
    clean_html = F.pandas_udf(clean_html_texts, "string")  # runs udfs/ code on the executors
    frame = frame.withColumns({
        "_html": html_found,
        "_clean_text": F.when(html_found, clean_html(F.when(html_found, text))).otherwise(text),
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
        .when(F.col("_bad_bytes") > F.length(text) * max_replacement_share, INVALID_UTF8)
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
            "text has %d U+FFFD replacement character(s) in %d: bytes that were not valid UTF-8, more than "
            "screening.max_replacement_share allows", F.col("_bad_bytes"), text_chars))
        .when(reason == CONTROL_CHARACTERS, F.format_string(
            "text has %d control character(s) other than tab, LF and CR (first U+%04X)",
            F.col("_controls"), F.col("_first_control")))
        .when(reason == DUPLICATE_NOTE_ID, duplicate)
    )
