"""Live progress while inference runs: a line about every `progress_s` seconds with the notes done of the total,
the energy so far (labelled measured or estimated), and an estimate of the time left, read from the energy
ledger's entries (each open window's heartbeat, each closed window's end: udfs/energy/ledger.py). A 10,000-note
run does not sit silent for an hour."""

from __future__ import annotations

import logging
import threading
import time

from udfs.energy.accounting import window_status
from udfs.energy.ledger import PARTITION, LedgerEntry, read_entries
from udfs.energy.vocabulary import wh

log = logging.getLogger("notewatt.progress")


def progress_line(entries: list[LedgerEntry], total: int, elapsed_s: float, escalated_to: str | None = None,
                  resumed: int = 0) -> str:
    """One line from this job attempt's ledger entries: the latest attempt of each partition counts. In a cascade,
    the notes the large tier (`escalated_to`) has done are counted apart: the small tier's are the notes done. In a
    resumed run, the `resumed` notes that earlier job attempts committed count as done, and are said apart."""
    latest: dict[tuple, LedgerEntry] = {}
    for e in (e for e in entries if e.window == PARTITION):
        key = (e.variant, e.partition_id)
        if key not in latest or e.task_attempt > latest[key].task_attempt:
            latest[key] = e
    inferred = sum(e.notes for e in latest.values() if e.variant != escalated_to)
    done = resumed + inferred
    escalated = f" (+ {sum(e.notes for e in latest.values()) - inferred:,} escalated)" if escalated_to else ""
    resumed_part = f", {resumed:,} of them resumed" if resumed else ""
    energy_j = sum(e.measurement.energy_j for e in latest.values())
    label = window_status(list(latest.values())).label
    left = f", about {_duration(elapsed_s / inferred * (total - done))} left" if 0 < inferred and done < total else ""
    return (f"inference: {done:,} of {total:,} notes ({100 * done / max(total, 1):.1f} %){resumed_part}{escalated}, "
            f"{wh(energy_j):.4f} Wh so far [{label}], {_duration(elapsed_s)} in{left}")


def _duration(seconds: float) -> str:
    return f"{seconds / 60:.0f} min" if seconds >= 90 else f"{seconds:.0f} s"


class Progress:
    """Logs progress_line() every `every_s` seconds while the block runs (nothing when every_s is 0)."""

    def __init__(self, ledger: str, total: int, every_s: float, escalated_to: str | None = None, resumed: int = 0):
        self.ledger, self.total, self.every_s, self.escalated_to, self.resumed = ledger, total, every_s, escalated_to, resumed
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="progress", daemon=True)

    def __enter__(self) -> Progress:
        self.started = time.monotonic()
        if self.every_s > 0:
            self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def _watch(self) -> None:
        while not self._stop.wait(self.every_s):
            try:
                entries = read_entries(self.ledger, recursive=True)
            except Exception as exc:  # progress is a courtesy: never fail the run for it
                log.warning("progress: the energy ledger could not be read (%s)", type(exc).__name__)
                continue
            log.info(progress_line(entries, self.total, time.monotonic() - self.started, self.escalated_to,
                                   self.resumed))
