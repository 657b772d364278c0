"""Driver side of quality scoring: a run's note rows -> per-note field scores (a Delta table) + summary metrics.

Only notes that have a reference are collected to the driver (gold sets are small); the scoring itself
is notewatt/scoring.py. With `quality.reference_run_id`, the reference is that run's ok outputs read
back from the note_abstractions table (agreement mode, for corpora without gold).
"""

from __future__ import annotations

from dataclasses import dataclass

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from notewatt.config import JobConfig, resolve_path
from notewatt.scoring import load_gold, reference_gold, score_run
from notewatt.tables import NOTE_ABSTRACTIONS, read_table
from udfs.abstraction import OK

NOTE_SCORES_SCHEMA = (
    "run_id string, mode string, note_id string, status string, prediction_parsed boolean, field string, "
    "tp long, fp long, fn long, precision double, recall double, f1 double, exact_match boolean"
)


@dataclass(frozen=True)
class Quality:
    mode: str  # "gold" | "reference:<run_id>" | "none"
    metrics: dict[str, float]
    note_scores: DataFrame | None


def _notes(rows: DataFrame, ids: set[str]) -> list[tuple[str, str, str | None]]:
    wanted = rows.where(F.col("note_id").isin(sorted(ids))).select("note_id", "status", "abstraction")
    return [tuple(r) for r in wanted.collect()]


def _reference(spark: SparkSession, config: JobConfig) -> tuple[dict[str, dict], str] | None:
    """The configured reference (gold labels, or an earlier run's ok outputs) and its mode name."""
    q = config.quality
    if q.reference_run_id:
        earlier = read_table(spark, config.output, NOTE_ABSTRACTIONS).where(F.col("run_id") == q.reference_run_id)
        notes = [tuple(r) for r in earlier.where(F.col("status") == "ok").select("note_id", "status", "abstraction").collect()]
        if not notes:
            raise ValueError(f"quality.reference_run_id {q.reference_run_id!r} has no ok notes to compare with")
        return reference_gold(notes), f"reference:{q.reference_run_id}"
    if q.gold_path:
        return load_gold(resolve_path(q.gold_path)), "gold"
    return None


def json_valid_rate(note_rows: DataFrame) -> float | None:
    """The share of the run's notes (every one it abstracted, scored or not) whose output is ok."""
    return note_rows.agg(F.avg((F.col("status") == OK).cast("double")).alias("rate")).first().rate


def score_quality(spark: SparkSession, note_rows: DataFrame, config: JobConfig, run_id: str) -> Quality:
    """Score the run against its reference; notes without one are counted in `notes_without_gold`. The
    valid-JSON rate is over every note, with or without a reference."""
    valid = {"json_valid_rate": json_valid_rate(note_rows)}
    reference = _reference(spark, config)
    if reference is None:
        return Quality("none", valid, None)
    gold, mode = reference
    scored = score_run(_notes(note_rows, set(gold)), gold, mode=mode)
    metrics = dict(scored.metrics) | valid
    metrics["notes_without_gold"] = float(note_rows.where(~F.col("note_id").isin(sorted(gold))).count())
    rows = scored.rows(run_id)
    frame = spark.createDataFrame(rows, NOTE_SCORES_SCHEMA) if rows else None
    return Quality(mode, metrics, frame)
