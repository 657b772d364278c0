"""Read a note corpus (JSONL, Parquet, CSV or Delta) into the columns the job uses, without collecting it.

JSONL and CSV are read in PERMISSIVE mode: a line or row the reader cannot parse is kept, not dropped,
with its raw text in `_corrupt_record` (null on every parsed row, and always null for Parquet and Delta).
That column holds note text: screen it (notewatt.note_checks) and never write it out. A CSV row with an
unterminated quote can swallow the rows after it; they are then one malformed record.

Columns kept: note_id and text (required), note_type, patient_id, encounter_date (null where absent),
plus source_file (the file each row came from) and `_corrupt_record`. Any other input column is ignored.
"""

from __future__ import annotations

from pathlib import Path

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import StringType, StructField, StructType

REQUIRED_COLUMNS = ("note_id", "text")
OPTIONAL_COLUMNS = ("note_type", "patient_id", "encounter_date")
CORRUPT_RECORD = "_corrupt_record"  # the raw text of a record the reader could not parse
SOURCE_FILE = "source_file"
EXTENSIONS = {".jsonl": "jsonl", ".json": "jsonl", ".parquet": "parquet", ".csv": "csv"}
PERMISSIVE = {"mode": "PERMISSIVE", "columnNameOfCorruptRecord": CORRUPT_RECORD}
CSV_OPTIONS = {"header": True, "multiLine": True, "escape": '"'}


class CorpusError(ValueError):
    """The corpus cannot be used as given (the message names what is wrong, never note text)."""


def detect_format(path: str) -> str:
    """Format from the path: a Delta log, a file extension, or the extensions of a local folder's files."""
    local = Path(path)
    if (local / "_delta_log").is_dir():
        return "delta"
    if local.suffix.lower() in EXTENSIONS:
        return EXTENSIONS[local.suffix.lower()]
    if local.is_dir():
        found = {EXTENSIONS[f.suffix.lower()] for f in local.iterdir() if f.suffix.lower() in EXTENSIONS}
        if len(found) == 1:
            return found.pop()
    raise CorpusError(f"cannot tell the format of corpus {path!r}; set corpus.format (jsonl, parquet, csv, delta)")


def read_notes(spark: SparkSession, path: str, fmt: str = "auto") -> DataFrame:
    """The corpus as note_id, text, the optional columns (null where absent), source_file and `_corrupt_record`."""
    if "://" not in path and not path.startswith("dbfs:") and not Path(path).exists():
        raise CorpusError(f"corpus path {path!r} does not exist (corpus.path, or --notes)")
    fmt = detect_format(path) if fmt == "auto" else fmt
    frame = _read(spark, path, fmt)
    missing = [c for c in REQUIRED_COLUMNS if c not in frame.columns]
    if missing:
        found = sorted(c for c in frame.columns if c != CORRUPT_RECORD)
        hint = "; no record could be parsed" if frame.columns == [CORRUPT_RECORD] else ""
        raise CorpusError(f"corpus {path!r} ({fmt}) lacks required column(s) {missing}; found {found}{hint}")
    optional = [
        (F.col(c) if c in frame.columns else F.lit(None)).cast("string").alias(c) for c in OPTIONAL_COLUMNS
    ]
    corrupt = F.col(CORRUPT_RECORD) if fmt in ("jsonl", "csv") and CORRUPT_RECORD in frame.columns else F.lit(None)
    return frame.select(
        F.col("note_id").cast("string"), F.col("text").cast("string"), *optional,
        _source_file(frame).alias(SOURCE_FILE), corrupt.cast("string").alias(CORRUPT_RECORD),
    )


def _read(spark: SparkSession, path: str, fmt: str) -> DataFrame:
    if fmt == "jsonl":
        return spark.read.options(**PERMISSIVE).json(path)
    if fmt == "csv":
        return _read_csv(spark, path)
    return spark.read.format(fmt).load(path)


def _read_csv(spark: SparkSession, path: str) -> DataFrame:
    """CSV as strings; the corrupt-record column must be in a given schema, so the header is read first."""
    header = spark.read.options(**CSV_OPTIONS).csv(path).columns
    if not header:
        return spark.read.options(**CSV_OPTIONS).csv(path)  # empty: fails the required-column check
    if CORRUPT_RECORD in header:
        raise CorpusError(f"corpus {path!r} (csv) has a column named {CORRUPT_RECORD!r}, which the reader reserves")
    schema = StructType([StructField(c, StringType()) for c in [*header, CORRUPT_RECORD]])
    return spark.read.schema(schema).options(**CSV_OPTIONS, **PERMISSIVE).csv(path)


def _source_file(frame: DataFrame) -> Column:
    """The file a row was read from: the `_metadata` column of file sources, else input_file_name()."""
    try:
        frame.select(F.col("_metadata.file_path")).schema  # analysed here, also under Spark Connect
        return F.col("_metadata.file_path")
    except Exception:  # not a file source
        return F.input_file_name()
