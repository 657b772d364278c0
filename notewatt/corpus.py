"""Read a note corpus (JSONL, Parquet, CSV or Delta) into the columns the job uses, without collecting it."""

from __future__ import annotations

from pathlib import Path

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

REQUIRED_COLUMNS = ("note_id", "text")
OPTIONAL_COLUMNS = ("note_type", "patient_id", "encounter_date")
EXTENSIONS = {".jsonl": "jsonl", ".json": "jsonl", ".parquet": "parquet", ".csv": "csv"}


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
    """The corpus as note_id, text and the optional columns (null where absent)."""
    fmt = detect_format(path) if fmt == "auto" else fmt
    if fmt == "jsonl":
        frame = spark.read.json(path)
    elif fmt == "csv":
        frame = spark.read.csv(path, header=True, multiLine=True, escape='"')
    else:
        frame = spark.read.format(fmt).load(path)
    missing = [c for c in REQUIRED_COLUMNS if c not in frame.columns]
    if missing:
        raise CorpusError(f"corpus {path!r} ({fmt}) lacks required column(s) {missing}; found {sorted(frame.columns)}")
    optional = [
        (F.col(c) if c in frame.columns else F.lit(None)).cast("string").alias(c) for c in OPTIONAL_COLUMNS
    ]
    return frame.select(F.col("note_id").cast("string"), F.col("text").cast("string"), *optional)
