"""Inference committed as it goes: the engine's note rows reach Delta (`inference_outputs`) in slices while a run
goes on, and what the driver does after inference reads them there. A driver that dies loses at most the slice in
flight; a rerun of the run id (a resumed run) sends only the notes the run has not committed to the engine, and a
frame Spark would recompute (an executor lost after inference) is never the source of a table, so no note is
inferred twice.

A slice is `output.slice_notes_per_task` notes for each of the run's partitions (the notes split by a hash of their
id); each slice is one Spark job whose tasks write their rows straight to the table (Delta keeps one task attempt's
files per partition) in one append, written once per (run, job attempt, slice). Partition ids go on across slices
and job attempts, so a partition id names one task of the run."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from notewatt.table_store import TableStore
from notewatt.tables import INFERENCE_OUTPUTS
from udfs.abstract_partition import OUTPUT_DTYPES, OUTPUT_SCHEMA, PartitionSettings

SLICES_PER_ATTEMPT = 100_000  # a job attempt's slice versions: attempt * this + slice (Delta's txnVersion)


@dataclass
class SliceCommits:
    """The run's committed note rows, and the next slices' writes."""

    store: TableStore
    run_id: str
    job_attempt: int  # this job attempt (the job's start, ms): its slices' versions follow the earlier attempts'
    notes_per_task: int
    slices_written: int = 0
    next_partition: int | None = None  # the first partition id of the next slice (after every committed one)

    def committed(self) -> DataFrame | None:
        """The run's committed note rows, from every job attempt; None before the run's first commit."""
        table = self.store.read_or_none(INFERENCE_OUTPUTS)
        return None if table is None else table.where(F.col("run_id") == self.run_id)

    def resumed_notes(self) -> int:
        """Notes that earlier job attempts of the run committed."""
        committed = self.committed()
        if committed is None:
            return 0
        return committed.where(F.col("job_attempt") != self.job_attempt).select("note_id").distinct().count()

    def pending(self, notes: DataFrame, variant: str) -> DataFrame:
        """The notes the run has not committed through `variant`'s engine."""
        committed = self.committed()
        if committed is None:
            return notes
        return notes.join(committed.where(F.col("variant") == variant).select("note_id"), "note_id", "left_anti")

    def slices(self, notes: int, partitions: int) -> int:
        return max(1, math.ceil(notes / (self.notes_per_task * partitions)))

    def settings_for_slice(self, settings: PartitionSettings, partitions: int) -> PartitionSettings:
        """The settings of the next slice's tasks: their partition ids follow every committed one."""
        if self.next_partition is None:
            committed = self.committed()
            last = committed.agg(F.max("partition_id")).first()[0] if committed is not None else None
            self.next_partition = 0 if last is None else last + 1
        first = self.next_partition
        self.next_partition += partitions
        return replace(settings, first_partition=first)

    def commit(self, rows: DataFrame, slice_number: int) -> None:
        """Run the slice's tasks, their rows appended to inference_outputs in one commit (once per slice)."""
        stamped = rows.withColumns({"job_attempt": F.lit(self.job_attempt), "slice": F.lit(slice_number)})
        self.slices_written += 1
        self.store.append(INFERENCE_OUTPUTS, stamped, self.run_id,
                          self.job_attempt * SLICES_PER_ATTEMPT + self.slices_written)

    def rows(self, notes: DataFrame, variant: str) -> DataFrame:
        """The committed rows of `notes` through `variant`'s engine (every job attempt's), as the stage wrote them."""
        committed = self.committed()
        if committed is None:  # no note of the run was ever sent to an engine
            return notes.sparkSession.createDataFrame([], OUTPUT_SCHEMA)
        mine = committed.where(F.col("variant") == variant).join(notes.select("note_id"), "note_id", "left_semi")
        return mine.select(*OUTPUT_DTYPES)


def slice_of(slices: int):
    """A note's slice: a hash of its id, so each slice has about the same number of notes."""
    return F.pmod(F.xxhash64("note_id"), F.lit(slices))
