"""The cascade (routing.mode cascade): every note goes to the small variant first; a note whose small output is not
trusted goes on to the large variant (the job's), batched with the other escalated notes in a stage of its own.

A small output is not trusted when it is not `ok` (invalid JSON, truncated, an engine error) or, with
routing.min_mean_logprob, when the mean log-probability of its tokens is below that (the model's own confidence;
jobs/calibrate_cascade.py picks the threshold on labelled notes). Each pass's note rows keep their own energy
window; a note's final row is its last pass's output with the energy and tokens of both passes, and why it was
escalated. A note reaches the large tier at most once."""

from __future__ import annotations

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from notewatt.config import RoutingConfig
from notewatt.commits import SliceCommits
from notewatt.inference import run_inference
from udfs.abstract_partition import PartitionSettings
from udfs.abstraction import OK

LOW_CONFIDENCE = "low confidence"
SUMMED = ("energy_j", "prompt_tokens", "output_tokens", "cached_prompt_tokens")  # a note's cost over its passes


def escalation_reason(routing: RoutingConfig) -> Column:
    """Why a small output goes on to the large tier (`status <status>`, or low confidence); null: it is kept."""
    reason = F.when(F.col("status") != OK, F.concat(F.lit("status "), F.col("status")))
    if routing.min_mean_logprob is None:
        return reason
    return reason.when(F.col("mean_logprob") < routing.min_mean_logprob, F.lit(LOW_CONFIDENCE))


def run_cascade(notes: DataFrame, small: PartitionSettings, large: PartitionSettings, routing: RoutingConfig,
                partitions: int, commits: SliceCommits, sort_by_length: bool) -> DataFrame:
    """Both passes' note rows: every note through the small tier (with its escalation reason), then the escalated
    notes, once each, through the large tier. Each pass commits as it goes, so a resumed run picks up in either."""
    first = run_inference(notes, small, partitions, commits, sort_by_length)
    first = first.withColumn("escalation_reason", escalation_reason(routing)).persist()
    escalated = notes.join(first.where(F.col("escalation_reason").isNotNull()).select("note_id"), "note_id",
                           "left_semi")
    second = run_inference(escalated, large, partitions, commits, sort_by_length)
    return first.unionByName(second.withColumn("escalation_reason", F.lit(None).cast("string")))


def final_rows(passes: DataFrame, large_variant: str) -> DataFrame:
    """One row per note: its last pass's output (the large tier's, where it was escalated) with the energy and
    tokens of every pass, `escalated` and its reason."""
    note = Window.partitionBy("note_id")
    sources = F.array_sort(F.collect_set("energy_source").over(note))  # the windows' sources; none: unknown (null)
    merged = passes.withColumn("_pass", F.when(F.col("variant") == large_variant, 2).otherwise(1)).withColumns({
        "_last": F.max("_pass").over(note),
        "escalation_reason": F.max("escalation_reason").over(note),
        "energy_source": F.when(F.size(sources) > 0, F.array_join(sources, ",")),
        **{column: F.sum(column).over(note) for column in SUMMED},
    })
    return (merged.where(F.col("_pass") == F.col("_last")).drop("_pass", "_last")
            .withColumn("escalated", F.col("escalation_reason").isNotNull()))
