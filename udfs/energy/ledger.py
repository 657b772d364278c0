"""The energy ledger, the only record of a run's energy: every energy window (a partition's, an engine load's, a
warm-up's import) leaves one JSON file under the run's ledger folder with its Measurement (a reading per device),
who made it and the notes and tokens it covered. The driver builds every energy figure from the closed entries
(udfs/energy/accounting.py, notewatt/energy_frames.py); the energy of task attempts whose rows Spark discards is
there too.

A window writes its entry when it begins (state `open`, 0 J), at each heartbeat (about every 30 s) and when it ends
(`closed`, or `failed` when the partition raised), one file per window (`<window_id>.json`, replaced each time), so
a killed attempt leaves its energy up to its last heartbeat. Files go through pyarrow's filesystems, so the folder
may be local, on a shared file system, or an object store URI (s3://, gs://, hdfs://; dbfs:/ is read through the
/dbfs mount). Writing never raises: a failed write is logged once per worker, and the driver then reports the
windows it lacks as missing. Entries hold ids and figures only, never note text.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict, dataclass, replace

from udfs.energy.monitor import DeviceReading, Measurement

log = logging.getLogger("notewatt.ledger")

OPEN, CLOSED, FAILED = "open", "closed", "failed"  # a window's state in its latest entry
PARTITION, ENGINE_LOAD, WARM_UP = "partition", "engine_load", "warm_up"  # a partition; a model load; vLLM's import
LOADS = (ENGINE_LOAD, WARM_UP)  # engine-load energy: kept out of the notes' energy, never a retry


@dataclass(frozen=True)
class LedgerEntry:
    run_id: str
    window: str  # partition | engine_load | warm_up
    state: str  # open | closed | failed
    variant: str
    partition_id: int
    task_attempt: int
    host: str
    executor_id: str
    pid: int
    measurement: Measurement  # the window's readings so far (before any apportioning)
    model: str | None = None
    dtype: str | None = None  # what the engine computed in (a partition's, an engine load's)
    engine: str | None = None  # a partition's engine: "loaded" for this run, or "reused (prefix cache reset)"
    notes: int = 0  # notes the window has abstracted so far (a partition's)
    prompt_tokens: int = 0
    output_tokens: int = 0
    cached_prompt_tokens: int = 0

    @property
    def window_id(self) -> str:
        return self.measurement.window_id

    def to_json(self) -> str:
        record = asdict(self)
        record["measurement"]["devices"] = list(record["measurement"]["devices"].values())
        return json.dumps(record)

    @classmethod
    def from_json(cls, text: str) -> LedgerEntry:
        record = json.loads(text)
        measured = record.pop("measurement")
        devices = {d["device"]: DeviceReading(**d) for d in measured.pop("devices")}
        return cls(**record, measurement=Measurement(**measured, devices=devices))

    def at(self, state: str, measurement: Measurement, **counts: int) -> LedgerEntry:
        return replace(self, state=state, measurement=measurement, **counts)


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
                out.write(entry.to_json().encode())
            fs.move(temporary, f"{root}/{entry.window_id}.json")
        except Exception as exc:  # the ledger must never fail the partition
            if not EnergyLedger._warned:
                EnergyLedger._warned = True
                log.warning("energy ledger %s not writable (%s): the run will report this worker's windows as "
                            "missing", self.folder, type(exc).__name__)


def read_entries(folder: str, recursive: bool = False) -> list[LedgerEntry]:
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
                entries.append(LedgerEntry.from_json(stream.read().decode()))
    return entries
