"""What the run's energy ledger (udfs/energy_ledger.py) holds beyond the windows whose rows the run kept:

- discarded task attempts (failed, killed, speculative losers): their energy is not charged to notes; the
  roll-up reports it as retry_energy_j and wh_per_1000_notes_incl_retries, labelled by retry_energy_status;
- warm-ups no kept partition reported (udfs/worker_warmup.py: a warmed worker that ran no partition of the
  run): an engine load that happened, not a retry, so the roll-up adds it to engine_load_wh.

Each entry is its window's own reading (not apportioned among windows that shared a device); a window still
open in the ledger (killed, or a warm-up still importing) counts up to its last heartbeat (a lower bound:
retry_unfinished_windows, engine_load_unfinished_windows)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from notewatt.config import JobConfig, resolve_path
from notewatt.energy.vocabulary import status_of
from udfs.energy_ledger import OPEN, WARM_UP, read_entries

log = logging.getLogger("notewatt.ledger_account")
LEDGER_FOLDER = "_energy_ledger"
_UNKNOWN = "retry energy unknown (and unreported warm-ups', where workers were warmed)"


@dataclass(frozen=True)
class RetryEnergy:
    energy_j: float | None  # None: unknown (the ledger could not be read, or lacks windows the run kept)
    windows: int | None
    unfinished: int | None = 0  # windows killed before they closed: counted up to their last heartbeat
    status: str | None = None  # the energy status of the discarded windows' sources; None without any


@dataclass(frozen=True)
class UnreportedWarmUps:
    energy_j: float | None  # None: unknown (the ledger could not be read while workers were warmed)
    windows: int | None
    unfinished: int | None = 0  # still importing when the ledger was read: counted up to their last heartbeat
    sources: tuple[str, ...] = ()  # their energy sources, which label the engine loads with the kept ones


@dataclass(frozen=True)
class LedgerAccount:
    retry: RetryEnergy = RetryEnergy(0.0, 0)
    warm_ups: UnreportedWarmUps = UnreportedWarmUps(0.0, 0)


def ledger_root(config: JobConfig) -> str:
    """Where the runs' ledgers are: energy.ledger_path, else beside the Delta tables."""
    if config.energy.ledger_path:
        return resolve_path(config.energy.ledger_path).rstrip("/")
    return f"{resolve_path(config.output.path).rstrip('/')}/{LEDGER_FOLDER}"


def ledger_folder(config: JobConfig, run_id: str, job_attempt: int) -> str:
    """This job attempt's ledger folder, in the run's (a rerun of a run id is another attempt)."""
    return f"{ledger_root(config)}/{run_id}/{job_attempt}"


def account_ledger(folder: str, kept_window_ids: set[str], warmed_up: bool) -> LedgerAccount:
    """The ledger's windows outside `kept_window_ids`: discarded attempts and unreported warm-ups, each summed.
    Both are unknown when the ledger cannot be read or lacks a kept window (the warm-ups only if the run
    warmed workers up: without a warm-up there are none)."""
    entries = _entries(folder, kept_window_ids)
    if entries is None:
        return LedgerAccount(RetryEnergy(None, None),
                             UnreportedWarmUps(None, None, None) if warmed_up else UnreportedWarmUps(0.0, 0))
    unkept = [e for e in entries if e["window_id"] not in kept_window_ids]
    discarded = [e for e in unkept if e["window"] != WARM_UP]
    warm_ups = [e for e in unkept if e["window"] == WARM_UP]
    sources = [e["energy_source"] for e in discarded]
    retry = RetryEnergy(_joules(discarded), len(discarded), _open(discarded),
                        status_of(sources).name if sources else None)
    return LedgerAccount(retry, UnreportedWarmUps(_joules(warm_ups), len(warm_ups), _open(warm_ups),
                                                  tuple(e["energy_source"] for e in warm_ups)))


def _entries(folder: str, kept_window_ids: set[str]) -> list[dict] | None:
    """The ledger's entries; None (with a warning) when it cannot be read or lacks a window the run kept."""
    try:
        entries = read_entries(folder)
    except Exception as exc:
        log.warning("energy ledger %s could not be read (%s): %s", folder, type(exc).__name__, _UNKNOWN)
        return None
    missing = kept_window_ids - {e["window_id"] for e in entries}
    if missing:
        log.warning("energy ledger %s lacks %d of the %d windows the run kept: %s",
                    folder, len(missing), len(kept_window_ids), _UNKNOWN)
        return None
    return entries


def _joules(entries: list[dict]) -> float:
    return sum(e["energy_j"] for e in entries)


def _open(entries: list[dict]) -> int:
    return sum(e["state"] == OPEN for e in entries)
