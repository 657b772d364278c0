"""Warm a Python worker before its first partition: import vLLM (most of an engine's load time on CPU) in a
background thread, inside an energy window, while the driver still reads, screens and routes the notes.

The worker's first partition waits for the import to finish, then reports its window as one of its engine
load's windows (udfs/abstract_partition.py); the window leaves ledger entries of its own kind (`warm_up`), so a
warm-up whose worker never runs a partition of the run is still counted, as engine-load energy
(notewatt/energy/ledger_account.py). A worker whose tasks are given GPUs is not warmed: which GPUs its
partition gets is known only then, and CUDA must see only those.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from dataclasses import dataclass, field
from typing import Iterator

import pandas as pd

from udfs.energy import Measurement
from udfs.energy_ledger import WARM_UP
from udfs.engine import import_vllm
from udfs.task_energy import idle_power_or_none, ledger_listener, meters_for, monitor_for
from udfs.task_info import current_task, log_to_stderr

log = logging.getLogger("notewatt.warmup")


@dataclass
class WarmUp:
    ledger_folder: str | None  # the run (job attempt) that warmed the worker: only its partitions report the window
    measurement: Measurement | None = None  # the import's window, once it has ended
    reported: bool = False  # set when a partition whose rows the run keeps has reported it
    done: threading.Event = field(default_factory=threading.Event)


_warm_up: WarmUp | None = None  # this worker's, started by its first warm-up task


def warm_up_worker(batches: Iterator[pd.DataFrame], settings) -> Iterator[pd.DataFrame]:
    """mapInPandas entry point (`settings`: the run's PartitionSettings): start the import and return at once,
    with no rows."""
    for _ in batches:
        pass
    log_to_stderr()
    task = current_task()
    if _warm_up is None and "vllm.entrypoints.llm" not in sys.modules and not task.gpu_addresses:
        _start(settings, task)
    yield from ()


def _start(settings, task) -> None:
    global _warm_up
    try:
        metered = meters_for(settings.metering, ())
    except Exception as exc:  # the partition meters again and says why it cannot (energy.require_measured)
        log.warning("worker not warmed: its devices cannot be metered (%s)", type(exc).__name__)
        return
    listener = ledger_listener(settings.metering, settings.run_id, settings.variant, task, WARM_UP)
    _warm_up = WarmUp(settings.metering.ledger_folder)
    threading.Thread(target=_import, args=(_warm_up, settings, metered, listener), name="vllm-import",
                     daemon=True).start()


def _import(warm: WarmUp, settings, metered, listener) -> None:
    """The thread: vLLM's import inside an energy window (idle power read first, as before an engine load)."""
    window = None
    try:
        monitor = monitor_for(settings.metering, metered, [idle_power_or_none(m) for m in metered.meters])
        with monitor.measure(listener) as window:
            import_vllm(settings.engine)
        log.info("vLLM imported in pid %d in %.1f s (warm-up)", os.getpid(), window.measurement.duration_s)
    except Exception as exc:  # the window ended as failed; the partition's own import then fails with the error
        log.warning("vLLM import failed in the warm-up (%s)", type(exc).__name__)
    finally:
        warm.measurement = window and window.measurement
        warm.done.set()


def warm_up_window(ledger_folder: str | None) -> Measurement | None:
    """This worker's warm-up import window, once it has finished (waiting for it if it is running), if the run
    with this ledger folder warmed the worker and no kept partition has reported it yet; else None (a worker
    reused by a later run leaves the window to the ledger of the run that warmed it)."""
    if _warm_up is None:
        return None
    _warm_up.done.wait()  # never two imports of vLLM at once
    if _warm_up.reported or _warm_up.ledger_folder != ledger_folder:
        return None
    return _warm_up.measurement


def warm_up_reported() -> None:
    """A kept partition has reported the warm-up window: later partitions of this worker do not."""
    if _warm_up is not None:
        _warm_up.reported = True
