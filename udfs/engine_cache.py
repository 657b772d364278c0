"""A Python worker's engines: built on first use inside an energy window of their own, kept across tasks (a
run's variants, at most), and closed with their memory given back when another run's engines need the room."""

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

from udfs.energy import Listener, Measurement
from udfs.engine import Engine, EngineSpec, EngineStartError, VllmEngine
from udfs.meters import TaskMeters
from udfs.task_energy import MeteringSettings, idle_power_or_none, monitor_for

log = logging.getLogger("notewatt.engines")


@dataclass
class LoadedEngine:
    engine: Engine
    load: Measurement
    idle_power_w: list[float | None]  # per meter, read before the model loaded
    load_reported: bool = False


_ENGINES: dict[str, LoadedEngine] = {}  # per Python worker, least recently used first; survives across tasks


def cached_engine(
    spec: EngineSpec, metered: TaskMeters, metering: MeteringSettings, listener: Listener, keep: int = 1
) -> LoadedEngine:
    """This worker's engine for `spec`, built on first use inside its own energy window; the devices' idle
    power is read once, just before the model loads, and kept with the load measurement. At most `keep`
    engines (a run's variants) stay loaded: the least recently used one is closed to make room for another."""
    if spec.key in _ENGINES:
        _ENGINES[spec.key] = _ENGINES.pop(spec.key)  # now the most recently used
        return _ENGINES[spec.key]
    if len(_ENGINES) >= keep:
        close_engines(keep=list(_ENGINES)[len(_ENGINES) - keep + 1:])
    idle = [idle_power_or_none(meter) for meter in metered.meters]
    started = time.monotonic()
    with monitor_for(metering, metered, idle).measure(listener) as window:
        engine = start_engine(spec, metered)
    _ENGINES[spec.key] = LoadedEngine(engine, window.measurement, idle)
    log.info("engine loaded in pid %d in %.1f s", os.getpid(), time.monotonic() - started)
    return _ENGINES[spec.key]


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
    Spark's daemon ends a worker with os._exit)."""
    stale = [key for key in _ENGINES if key not in keep]
    for key in stale:
        _close(_ENGINES.pop(key))
    if stale:
        _return_memory()
    return len(stale)


atexit.register(close_engines)


def release_worker(batches: Iterator[pd.DataFrame], keep: frozenset[str]) -> Iterator[pd.DataFrame]:
    """mapInPandas, one barrier task per task slot (so one per worker): close the engines a run will not use,
    which earlier runs of a long-lived application left behind, before the run sizes its engines to memory."""
    for _ in batches:
        pass
    yield pd.DataFrame({"closed": [close_engines(keep)]})


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
