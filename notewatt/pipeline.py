"""The driver's steps after inference: the stage's note rows and the run's energy ledger -> the run's tables (the
windows' energy from the ledger with shared devices apportioned, notes given their share, reused notes added,
discarded attempts and engine loads beside them, quality scored once, roll-ups whose counts reconcile).
notewatt/publish.py then writes them and logs the run."""

from __future__ import annotations

from dataclasses import dataclass, replace

import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from notewatt.cascade import final_rows
from notewatt.config import JobConfig
from notewatt.corpus import CorpusError
from notewatt.energy_frames import energy_frames
from notewatt.gate.run_checks import partition_wh_per_1000_notes
from notewatt.output_cache import ReusePlan, with_reused_notes
from notewatt.quality.run_quality import Reference, RunQuality, score_run_quality
from notewatt.rollup import RunInfo, route_rows, run_rollup_row, with_note_energy
from notewatt.screening import ScreenCounts, Screened
from notewatt.stages import StageClock
from notewatt.table_store import TableStore
from notewatt.tables import (
    DEVICE_ENERGY, ENGINE_LOADS, NOTE_ABSTRACTIONS, NOTE_SCORES, PARTITION_ENERGY, QUARANTINE, ROUTE_ROLLUP,
    Table,
)
from udfs.energy.vocabulary import wh


class ReconciliationError(AssertionError):
    """notes_in != notes abstracted + notes quarantined: a note was lost or counted twice."""


@dataclass(frozen=True)
class RunInputs:
    """What the driver knows of a run's notes before inference."""

    screened: Screened
    counts: ScreenCounts
    reuse: ReusePlan | None  # the output cache's plan (cache.enabled)
    reference: Reference | None  # what quality is scored against (read before inference)


@dataclass(frozen=True)
class RunResults:
    tables: dict[Table, DataFrame]  # every table's rows of this run but run_rollup's (written last, from `rollup`)
    rollup: dict  # the run_rollup row
    routes: list[dict]  # the route_rollup rows
    quality: RunQuality
    partitions: pd.DataFrame  # partition_id, notes, energy_j, output_tokens: for the gate, the chart and the report

    @property
    def partition_wh_per_1000_notes(self) -> list[float]:
        return partition_wh_per_1000_notes(self.partitions)


def require_notes(store: TableStore, screened: Screened, counts: ScreenCounts, run_id: str, attempt: int) -> None:
    """Stop before inference when screening left no note to abstract: the quarantine rows are written first, so the
    one-line error can say where their reasons are."""
    if counts.clean:
        return
    if not counts.notes_in:
        raise CorpusError("the corpus has no records (corpus.path, or --notes)")
    store.write_rows(QUARANTINE, screened.quarantine, run_id, attempt)
    reasons = ", ".join(f"{n} {reason}" for reason, n in counts.by_reason.items())
    raise CorpusError(f"no note to abstract: all {counts.notes_in} records were quarantined ({reasons}); their "
                      f"reasons are in {store.location(QUARANTINE)}")


def reconcile(counts: ScreenCounts, abstracted: int) -> dict[str, int]:
    """The roll-up's input counts, after checking notes_in = notes abstracted + notes quarantined."""
    if counts.notes_in != abstracted + counts.quarantined:
        raise ReconciliationError(
            f"notes_in {counts.notes_in} != notes_abstracted {abstracted} + notes_quarantined {counts.quarantined}"
        )
    return {"notes_in": counts.notes_in, "notes_quarantined": counts.quarantined}


def run_results(store: TableStore, config: JobConfig, notes: DataFrame, inputs: RunInputs, run: RunInfo, ledger: str,
                clock: StageClock) -> RunResults:
    """The run's tables and roll-ups from its committed note rows (one attempt per task) and its energy ledger."""
    with clock.stage("tables"):
        return _run_results(store, config, notes, inputs, run, ledger, clock)


def _run_results(store, config, generated: DataFrame, inputs: RunInputs, run, ledger, clock) -> RunResults:
    spark = store.spark
    kept = {r.window_id for r in generated.select("window_id").distinct().collect() if r.window_id}
    energy = energy_frames(spark, ledger, kept)
    partitions = energy.partitions.select("window_id", "partition_id", "notes", "energy_j", "output_tokens").toPandas()
    run = replace(run, energy=energy.energy)
    notes = passes = with_reused_notes(with_note_energy(generated, energy.partitions), inputs.reuse,
                                       run.run_id).withColumn("escalated", F.lit(False))
    if config.routing.mode == "cascade":  # an escalated note has a row per pass, and so has a repeat of one
        passes = passes.persist()
        notes = final_rows(passes, config.variant)
    notes = notes.persist()
    rollup = run_rollup_row(notes, energy.partitions, energy.loads, run)
    with clock.stage("quality"):
        quality = score_run_quality(inputs.reference, notes, run.run_id, config.variants_in_use, rollup["notes"],
                                    rollup["notes_ok"])
    rollup |= _quality_fields(quality) | reconcile(inputs.counts, rollup["notes"]) | {
        "routing_mode": config.routing.mode if config.routing.small_variant else None}
    routes = [r | {"f1_overall": quality.route_f1.get(r["variant"])}
              for r in route_rows(passes, energy.partitions, run.run_id, run.energy)]
    tables = {
        NOTE_ABSTRACTIONS: notes, PARTITION_ENERGY: energy.partitions, DEVICE_ENERGY: energy.devices,
        ENGINE_LOADS: energy.loads, QUARANTINE: inputs.screened.quarantine,
        ROUTE_ROLLUP: spark.createDataFrame(routes, ROUTE_ROLLUP.schema),
    }
    if quality.note_scores:
        tables[NOTE_SCORES] = spark.createDataFrame(quality.note_scores, NOTE_SCORES.schema)
    return RunResults(tables, rollup, routes, quality, partitions)


def _quality_fields(quality: RunQuality) -> dict:
    """The quality figures, and the energy per correct answer: Wh per 1,000 items the scorer counted as correct
    (its true positives), over the energy of the notes it scored."""
    correct = quality.metrics.get("correct_items")
    per_item = wh(quality.scored_energy_j) / correct * 1000 if correct and quality.scored_energy_j is not None else None
    return {"quality_mode": quality.mode, "f1_overall": quality.metrics.get("f1_overall"),
            "json_valid_rate": quality.metrics.get("json_valid_rate"),
            "correct_items": None if correct is None else int(correct), "wh_per_1000_correct_items": per_item}
