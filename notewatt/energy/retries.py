"""Energy spent by task attempts whose rows were discarded (failed, killed, speculative losers): the windows
in the run's energy ledger (udfs/energy_ledger.py) that are not among the windows the run kept. It is not
charged to notes; the roll-up reports it as retry_energy_j and wh_per_1000_notes_incl_retries, labelled by
retry_energy_status. Each entry is its window's own reading (not apportioned among windows that shared a
device); a window killed before it closed counts up to its last heartbeat (retry_unfinished_windows: a lower
bound)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from notewatt.config import JobConfig, resolve_path
from notewatt.energy.vocabulary import status_of
from udfs.energy_ledger import OPEN, read_entries

log = logging.getLogger("notewatt.retries")
LEDGER_FOLDER = "_energy_ledger"


@dataclass(frozen=True)
class RetryEnergy:
    energy_j: float | None  # None: unknown (the ledger could not be read, or lacks windows the run kept)
    windows: int | None
    unfinished: int | None = 0  # windows killed before they closed: counted up to their last heartbeat
    status: str | None = None  # the energy status of the discarded windows' sources; None without any


def ledger_root(config: JobConfig) -> str:
    """Where the runs' ledgers are: energy.ledger_path, else beside the Delta tables."""
    if config.energy.ledger_path:
        return resolve_path(config.energy.ledger_path).rstrip("/")
    return f"{resolve_path(config.output.path).rstrip('/')}/{LEDGER_FOLDER}"


def ledger_folder(config: JobConfig, run_id: str, job_attempt: int) -> str:
    """This job attempt's ledger folder, in the run's (a rerun of a run id is another attempt)."""
    return f"{ledger_root(config)}/{run_id}/{job_attempt}"


def retry_energy(folder: str, kept_window_ids: set[str]) -> RetryEnergy:
    """The ledger's windows outside `kept_window_ids`, summed; unknown when the ledger lacks a kept window."""
    try:
        entries = read_entries(folder)
    except Exception as exc:
        log.warning("energy ledger %s could not be read (%s): retry energy unknown", folder, type(exc).__name__)
        return RetryEnergy(None, None)
    missing = kept_window_ids - {e["window_id"] for e in entries}
    if missing:
        log.warning("energy ledger %s lacks %d of the %d windows the run kept: retry energy unknown",
                    folder, len(missing), len(kept_window_ids))
        return RetryEnergy(None, None)
    discarded = [e for e in entries if e["window_id"] not in kept_window_ids]
    sources = [e["energy_source"] for e in discarded]
    return RetryEnergy(sum(e["energy_j"] for e in discarded), len(discarded),
                       sum(e["state"] == OPEN for e in discarded), status_of(sources).name if sources else None)
