"""The energy ledger: every energy window leaves a small JSON entry under the run's ledger folder, so the
energy of task attempts whose rows Spark discards (failed, killed, speculative losers) is still counted.

A window writes its entry as a heartbeat (state `open`, about every 30 s) and when it ends (`closed`, or
`failed` when the partition raised), one file per window (`<window_id>.json`, replaced each time), so a
killed attempt leaves its energy up to its last heartbeat. The driver compares the ledger with the windows
whose rows it kept (notewatt/energy/ledger_account.py). Files go through pyarrow's filesystems, so the folder may
be local, on a shared file system, or an object store URI (s3://, gs://, hdfs://; dbfs:/ is read through
the /dbfs mount). Writing never raises: a failed write is logged once per worker and the driver then
reports the retry energy as unknown. Entries hold ids and figures only, never note text.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict, dataclass

log = logging.getLogger("notewatt.ledger")

OPEN, CLOSED, FAILED = "open", "closed", "failed"  # a window's state in its latest entry
PARTITION, ENGINE_LOAD = "partition", "engine_load"  # a partition's window; a worker's model load
WARM_UP = "warm_up"  # a warmed-up worker's vLLM import (udfs/worker_warmup.py): engine-load energy, never a retry


@dataclass(frozen=True)
class LedgerEntry:
    run_id: str
    window_id: str
    window: str  # partition | engine_load | warm_up
    state: str  # open | closed | failed
    variant: str
    partition_id: int
    task_attempt: int
    host: str
    executor_id: str
    pid: int
    start_ts: float
    end_ts: float  # the last reading: the heartbeat's, or the window's end
    energy_j: float  # the window's devices' readings, summed (before any apportioning)
    energy_source: str
    notes: int = 0  # notes the window has abstracted so far (a partition's; 0 for an engine load)
    output_tokens: int = 0  # their output tokens


def filesystem(uri: str):
    """(pyarrow filesystem, path) for a folder URI or local path; dbfs:/x is the /dbfs/x mount."""
    from pyarrow import fs

    if uri.startswith("dbfs:"):
        uri = "/dbfs/" + uri[len("dbfs:"):].lstrip("/")
    return fs.FileSystem.from_uri(uri if "://" in uri else os.path.abspath(uri))


class EnergyLedger:
    """Writes a window's entries into one folder (None: no ledger, nothing written)."""

    _warned = False  # per worker process: one warning, not one per heartbeat

    def __init__(self, folder: str | None):
        self.folder = folder

    def record(self, entry: LedgerEntry) -> None:
        if self.folder is None:
            return
        try:
            fs, root = filesystem(self.folder)
            fs.create_dir(root, recursive=True)
            temporary = f"{root}/.{entry.window_id}.{entry.state}.tmp"
            with fs.open_output_stream(temporary) as out:
                out.write(json.dumps(asdict(entry)).encode())
            fs.move(temporary, f"{root}/{entry.window_id}.json")
        except Exception as exc:  # the ledger must never fail the partition
            if not EnergyLedger._warned:
                EnergyLedger._warned = True
                log.warning("energy ledger %s not writable (%s): retry energy will be reported unknown",
                            self.folder, type(exc).__name__)


def read_entries(folder: str, recursive: bool = False) -> list[dict]:
    """Every window's latest entry in the folder (and below it, with `recursive`: a run's job attempts); []
    when the folder does not exist."""
    from pyarrow import fs as pafs

    fs, root = filesystem(folder)
    if fs.get_file_info(root).type == pafs.FileType.NotFound:
        return []
    entries = []
    for info in fs.get_file_info(pafs.FileSelector(root, recursive=recursive)):
        if info.base_name.endswith(".json") and not info.base_name.startswith("."):
            with fs.open_input_stream(info.path) as stream:
                entries.append(json.loads(stream.read()))
    return entries
