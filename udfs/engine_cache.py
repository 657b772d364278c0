"""A Python worker's engines: built on first use inside an energy window of their own, kept across tasks (a
run's variants, at most), and closed with their memory given back when another run's engines need the room
(in-process engines all at once: they share the state a shutdown tears down). An engine a later run reuses has its
prefix cache reset first, and says so (`state`): no run inherits another's cached prompts unannounced. An engine
that raised is closed and built anew (discard_engine)."""

from __future__ import annotations

import atexit
import ctypes
import gc
import logging
import os
import time
from dataclasses import dataclass
from typing import Iterator

import pandas as pd

from udfs.energy.monitor import Listener
from udfs.engine import Engine, EngineSpec, EngineStartError, VllmEngine
from udfs.energy.meters import TaskMeters
from udfs.energy.task import MeteringSettings, idle_power_or_none, monitor_for

log = logging.getLogger("notewatt.engines")


LOADED, REUSED = "loaded", "reused (prefix cache reset)"  # how a run got its engine
REBUILT = "rebuilt after an error (its load in the partition's window)"


@dataclass
class LoadedEngine:
    engine: Engine
    idle_power_w: list[float | None]  # per meter, read before the model loaded
    run_id: str  # the run that uses it now
    state: str = LOADED  # loaded by that run, or reused from an earlier one (its prefix cache reset)


_ENGINES: dict[str, LoadedEngine] = {}  # per Python worker, least recently used first; survives across tasks


def cached_engine(
    spec: EngineSpec, metered: TaskMeters, metering: MeteringSettings, listener: Listener | None, run_id: str,
    keep: int = 1, details: dict | None = None, in_open_window: bool = False,
) -> LoadedEngine:
    """This worker's engine for `spec` and the run `run_id`, built on first use inside its own energy window (its
    ledger entries carry `details`, which get the engine's dtype and state); the devices' idle power is read once,
    just before the model loads. At most `keep` engines (a run's variants) stay loaded: the least recently used
    one is closed to make room for another. `in_open_window`: a rebuild while the partition's window is open on the
    same meters; the load is metered there, never in a second window over the same devices (counted twice)."""
    details = {} if details is None else details
    if spec.key in _ENGINES:
        loaded = _ENGINES[spec.key] = _ENGINES.pop(spec.key)  # now the most recently used
        if loaded.run_id != run_id:
            loaded.engine.reset_prefix_cache()
            loaded.run_id, loaded.state = run_id, REUSED
            log.info("engine in pid %d reused by run %s, its prefix cache reset", os.getpid(), run_id)
        details.update(dtype=loaded.engine.dtype, engine=loaded.state)
        return loaded
    if len(_ENGINES) >= keep:
        close_engines(keep=list(_ENGINES)[len(_ENGINES) - keep + 1:])
    started = time.monotonic()
    if in_open_window:
        idle = [None] * len(metered.meters)  # the devices are busy in the partition's window: no idle reading
        engine = start_engine(spec, metered)
        details.update(dtype=engine.dtype, engine=REBUILT)
    else:
        idle = [idle_power_or_none(meter) for meter in metered.meters]
        with monitor_for(metering, metered, idle).measure(listener):
            engine = start_engine(spec, metered)
            details.update(dtype=engine.dtype, engine=LOADED)  # before the window's closing entry is written
    _ENGINES[spec.key] = LoadedEngine(engine, idle, run_id)
    log.info("engine loaded in pid %d in %.1f s", os.getpid(), time.monotonic() - started)
    return _ENGINES[spec.key]


def discard_engine(spec: EngineSpec) -> None:
    """Close this worker's engine for `spec` (it raised): the next call of cached_engine builds a new one."""
    if spec.key in _ENGINES:
        log.warning("engine in pid %d closed after an error: the next batch gets a new one", os.getpid())
        close_engines(keep=[key for key in _ENGINES if key != spec.key])


def start_engine(spec: EngineSpec, metered: TaskMeters) -> Engine:
    """Build the engine, or fail with the model, the devices and the reason in one line."""
    try:
        engine = VllmEngine(spec)
    except Exception as exc:
        devices = ",".join(f"{m.device_name} {m.device}" for m in metered.meters)
        raise EngineStartError(
            f"vLLM engine could not start: model {spec.model}, devices [{devices}]: {type(exc).__name__}: {exc}"
        ) from exc
    return engine


def close_engines(keep: list[str] | frozenset[str] = ()) -> int:
    """Shut this worker's engines down but those keyed in `keep`, and give their memory back to the host; returns
    how many were closed. Also at interpreter exit (vLLM's own worker processes exit with their parent when
    Spark's daemon ends a worker with os._exit). Where the engines run in this process, closing one closes them
    all: an in-process engine's shutdown tears down the process's model-parallel groups, which every engine here
    uses (the next step of another one fails: "pipeline model parallel group is not initialized"); the next use
    of a kept one builds it again."""
    stale = [key for key in _ENGINES if key not in keep]
    if stale and len(stale) < len(_ENGINES) and _engines_in_process():
        log.info("closing every engine in pid %d: in-process engines share the state a shutdown tears down",
                 os.getpid())
        stale = list(_ENGINES)
    for key in stale:
        _close(_ENGINES.pop(key))
    if stale:
        _return_memory()
    return len(stale)


atexit.register(close_engines)


def _engines_in_process() -> bool:
    """vLLM runs its engine cores in this process (the CPU profile's VLLM_ENABLE_V1_MULTIPROCESSING=0), not in
    processes of their own."""
    return os.environ.get("VLLM_ENABLE_V1_MULTIPROCESSING") == "0"


def release_worker(batches: Iterator[pd.DataFrame], keep: frozenset[str]) -> Iterator[pd.DataFrame]:
    """mapInPandas, one barrier task per task slot (so one per worker): close the engines a run will not use,
    which earlier runs of a long-lived application left behind, before the run sizes its engines to memory; and
    say which of the run's engines the worker holds already (their memory is in use, and needs no more)."""
    for _ in batches:
        pass
    closed = close_engines(keep)
    yield pd.DataFrame({"closed": [closed], "loaded": [sorted(_ENGINES)]})


def _close(loaded: LoadedEngine) -> None:
    try:
        loaded.engine.close()
    except Exception as exc:  # making room or shutting down: report, never raise
        log.warning("engine shutdown failed: %s", type(exc).__name__)


def _return_memory() -> None:
    """The closed engines' memory back to the host: their cycles collected, then glibc's free lists trimmed
    (measured: a 0.5B engine's worker held 5.3 GB of anonymous memory, 1.8 GB once it closed, 1.1 GB trimmed)."""
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc
        pass
