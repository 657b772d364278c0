"""Calibrating the cascade's confidence threshold (routing.min_mean_logprob) on labelled notes.

From two scored runs over the same notes, the small variant's and the large variant's (note_abstractions and
note_scores), each candidate threshold is replayed note by note: a note is escalated when its small output is not
ok or its mean token log-probability is below the threshold, and then takes the large run's field scores and both
runs' energy; otherwise the small run's. The notes are split in two halves by a hash of their id: the threshold is
chosen on the calibration half (the least energy whose F1 is at most `margin` below the large variant's alone) and
reported on the other half, which played no part in choosing it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import pandas as pd
from pyspark.sql import functions as F

from notewatt.config import ConfigError
from notewatt.quality.scoring import OVERALL_FIELDS, FieldScore
from notewatt.table_store import TableStore
from notewatt.tables import NOTE_ABSTRACTIONS, NOTE_SCORES
from udfs.abstraction import OK
from udfs.energy.vocabulary import wh

CALIBRATION, REPORT = "calibration", "report"


def half_of(note_id: str) -> str:
    """A note's half, stable across runs and corpora: the parity of its id's SHA-256."""
    return CALIBRATION if hashlib.sha256(note_id.encode()).digest()[0] % 2 == 0 else REPORT


def scored_notes(store: TableStore, run_id: str) -> pd.DataFrame:
    """A run's scored notes: note_id, status, mean_logprob, energy_j and the tp/fp/fn over the overall fields."""
    scores = (store.read(NOTE_SCORES).where((F.col("run_id") == run_id) & F.col("field").isin(*OVERALL_FIELDS))
              .groupBy("note_id", "mode").agg(*[F.sum(count).alias(count) for count in ("tp", "fp", "fn")]))
    notes = store.read(NOTE_ABSTRACTIONS).where(F.col("run_id") == run_id).select(
        "note_id", "status", "mean_logprob", "energy_j")
    frame = notes.join(scores, "note_id").toPandas()
    if frame.empty:
        raise ConfigError(f"run {run_id!r} has no scored notes in {store.location(NOTE_SCORES)}: calibrate on runs "
                          "scored against gold (quality.gold_path)")
    return frame.set_index("note_id")


@dataclass(frozen=True)
class Replay:
    """The cascade at one threshold over a set of notes."""

    threshold: float | None  # None: escalate failed outputs only
    notes: int
    escalated: int
    f1: float
    energy_j: float

    @property
    def wh_per_1000_notes(self) -> float:
        return wh(self.energy_j) / self.notes * 1000 if self.notes else float("nan")


def replay(small: pd.DataFrame, large: pd.DataFrame, threshold: float | None) -> Replay:
    """The cascade over the notes of both runs at `threshold`, by the job's rule (notewatt/cascade.py): an ok output
    of unknown confidence is kept, as Spark's null comparison keeps it."""
    escalate = small["status"] != OK
    if threshold is not None:
        escalate |= small["mean_logprob"] < threshold  # NaN < threshold is False
    kept = small[~escalate]
    taken = large.loc[escalate[escalate].index]
    score = FieldScore(int(kept.tp.sum() + taken.tp.sum()), int(kept.fp.sum() + taken.fp.sum()),
                       int(kept.fn.sum() + taken.fn.sum()))
    return Replay(threshold, len(small), int(escalate.sum()), score.f1,
                  float(small.energy_j.sum() + taken.energy_j.sum()))


def alone(run: pd.DataFrame) -> Replay:
    """One variant on every note (no cascade)."""
    score = FieldScore(int(run.tp.sum()), int(run.fp.sum()), int(run.fn.sum()))
    return Replay(None, len(run), 0, score.f1, float(run.energy_j.sum()))


@dataclass(frozen=True)
class Calibration:
    threshold: float | None  # the chosen routing.min_mean_logprob
    candidates: pd.DataFrame  # every threshold replayed on the calibration half
    report: dict[str, Replay]  # on the report half: the cascade at the threshold, each variant alone


def calibrate(small: pd.DataFrame, large: pd.DataFrame, margin: float) -> Calibration:
    """The threshold with the least energy on the calibration half at F1 no more than `margin` below the large
    variant's alone there, and what it gives on the report half."""
    if small["mode"].iloc[0] != large["mode"].iloc[0]:
        raise ConfigError("the two runs were scored against different references; calibrate on one gold set")
    common = small.index.intersection(large.index)
    small, large = small.loc[common], large.loc[common]
    halves = pd.Series([half_of(n) for n in common], index=common)
    cal_small, cal_large = small[halves == CALIBRATION], large[halves == CALIBRATION]
    if cal_small.empty or len(common) == len(cal_small):
        raise ConfigError(f"{len(common)} notes scored in both runs: too few to split into two halves")
    floor = alone(cal_large).f1 - margin
    levels = sorted(float(x) for x in cal_small["mean_logprob"].dropna().unique())
    replays = [replay(cal_small, cal_large, t) for t in [None, *levels, 0.0]]  # 0.0: every note escalated
    chosen = min((r for r in replays if r.f1 >= floor), key=lambda r: r.energy_j)
    rep_small, rep_large = small[halves == REPORT], large[halves == REPORT]
    candidates = pd.DataFrame([r.__dict__ | {"wh_per_1000_notes": r.wh_per_1000_notes} for r in replays])
    return Calibration(chosen.threshold, candidates.assign(meets_floor=candidates.f1 >= floor), {
        "cascade": replay(rep_small, rep_large, chosen.threshold), "small": alone(rep_small),
        "large": alone(rep_large)})


def report_table(calibration: Calibration) -> pd.DataFrame:
    """The report half's rows: notes, escalated, F1, Wh per 1,000 notes, and energy against the large alone."""
    large = calibration.report["large"].energy_j
    return pd.DataFrame([
        {"arm": arm, "notes": r.notes, "escalated": r.escalated, "f1": r.f1, "wh_per_1000_notes": r.wh_per_1000_notes,
         "energy_vs_large": r.energy_j / large if large else float("nan")}
        for arm, r in calibration.report.items()])
