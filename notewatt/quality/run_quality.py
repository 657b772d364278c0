"""Driver side of quality scoring: a run's note rows -> its quality figures, each route's F1, and the per-note
field scores (rows of the note_scores table), from one scoring pass over the notes that have a reference.

Only notes that have a reference are collected to the driver (gold sets are small); the scoring itself is
notewatt/quality/scoring.py. With `quality.reference_run_id`, the reference is that run's ok outputs read back
from the note_abstractions table (agreement mode, for corpora without gold). The valid-JSON rate is over every
note of the run, scored or not.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from notewatt.config import ConfigError, QualityConfig, resolve_path
from notewatt.quality.scoring import load_gold, reference_gold, score_notes
from notewatt.table_store import TableStore
from notewatt.tables import NOTE_ABSTRACTIONS
from udfs.abstraction import OK

NOT_SCORED = "none"


@dataclass(frozen=True)
class RunQuality:
    mode: str  # "gold" | "reference:<run_id>" | "none"
    metrics: dict[str, float]  # json_valid_rate always; f1_overall, per field, notes_scored... when scored
    route_f1: dict[str, float | None]  # each variant's F1 over its own notes
    note_scores: list[dict] = field(default_factory=list)  # note_scores rows; empty when not scored
    scored_energy_j: float | None = None  # the energy charged to the scored notes (a cascade's: both passes)


@dataclass(frozen=True)
class Reference:
    """What a run is scored against: gold labels, or an earlier run's ok outputs (agreement)."""

    labels: dict[str, dict]
    mode: str  # "gold" | "reference:<run_id>"


def load_reference(store: TableStore, quality: QualityConfig) -> Reference | None:
    """The configured reference, read before any inference: a gold file that is missing or malformed, or a
    reference run with no ok note, is a ConfigError naming the setting."""
    if quality.reference_run_id:
        notes = _ok_notes(store, quality.reference_run_id)
        if not notes:
            raise ConfigError(f"quality.reference_run_id {quality.reference_run_id!r} has no ok notes to compare with "
                              f"in {store.location(NOTE_ABSTRACTIONS)}")
        return Reference(reference_gold(notes), f"reference:{quality.reference_run_id}")
    if quality.gold_path:
        try:
            return Reference(load_gold(resolve_path(quality.gold_path)), "gold")
        except (OSError, ValueError) as exc:
            raise ConfigError(f"quality.gold_path {quality.gold_path!r} cannot be used: {exc}") from None
    return None


def _ok_notes(store: TableStore, run_id: str) -> list[tuple]:
    """An earlier run's ok notes (note_id, status, abstraction); none before the table exists."""
    table = store.read_or_none(NOTE_ABSTRACTIONS)
    if table is None:
        return []
    rows = table.where((F.col("run_id") == run_id) & (F.col("status") == OK))
    return [tuple(r) for r in rows.select("note_id", "status", "abstraction").collect()]


def score_run_quality(reference: Reference | None, note_rows: DataFrame, run_id: str, variants: list[str],
                      notes: int, notes_ok: int) -> RunQuality:
    """Score the run, and each of its variants' notes, against the reference, once. `notes` and `notes_ok`
    (the run's counts, from its roll-up) give the valid-JSON rate over every note and the notes without gold."""
    metrics = {"json_valid_rate": notes_ok / notes if notes else None}
    if reference is None:
        return RunQuality(NOT_SCORED, metrics, dict.fromkeys(variants))
    ids = sorted(reference.labels)
    wanted = note_rows.where(F.col("note_id").isin(ids)).select("note_id", "variant", "status", "abstraction",
                                                                "energy_j")
    scoreable = wanted.collect()
    scored = score_notes([(n.note_id, n.status, n.abstraction) for n in scoreable], reference.labels, reference.mode)
    metrics |= scored.metrics() | {
        "notes_without_gold": float(notes - len(scoreable)),
        "gold_notes_not_in_run": float(len(scored.gold_not_in_run)),
    }
    route_f1 = {v: scored.metrics({n.note_id for n in scoreable if n.variant == v}).get("f1_overall")
                for v in variants}
    energy = [n.energy_j for n in scoreable]  # None: a note whose window the ledger lacks
    return RunQuality(reference.mode, metrics, route_f1, scored.rows(run_id),
                      None if None in energy else sum(energy, 0.0))
