"""Small <-> large routing: which variant abstracts each note first, by a rule from `routing` in the config (a
cascade starts every note on the small variant: notewatt/cascade.py)."""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from notewatt.config import RoutingConfig


def small_rule(notes: DataFrame, routing: RoutingConfig) -> Column:
    """True for the notes the small variant takes."""
    if routing.rule == "length":
        return F.length("text") <= routing.max_small_chars
    if "note_type" not in notes.columns:
        raise ValueError("routing.rule note_type needs a note_type column in the corpus")
    return F.coalesce(F.col("note_type").isin(routing.small_note_types), F.lit(False))


def route_notes(notes: DataFrame, routing: RoutingConfig, default_variant: str) -> DataFrame:
    """The notes with a `variant` column: the small tier where the rule says so (every note in a cascade), else
    the job's variant."""
    if not routing.small_variant:
        return notes.withColumn("variant", F.lit(default_variant))
    if routing.mode == "cascade":
        return notes.withColumn("variant", F.lit(routing.small_variant))
    return notes.withColumn(
        "variant", F.when(small_rule(notes, routing), F.lit(routing.small_variant)).otherwise(F.lit(default_variant))
    )
