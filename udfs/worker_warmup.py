"""Warm a Python worker before its first partition: import vLLM (most of an engine's load time on CPU) in a
background thread, inside an energy window, while the driver still reads, screens and routes the notes.

The worker's first partition waits for the import to finish before it builds its engine. The import's window
leaves ledger entries of its own kind (`warm_up`): engine-load energy of the run that warmed the worker, counted
whether or not the worker then runs a partition of it (udfs/energy/accounting.py). A worker whose tasks are given
GPUs is not warmed: which GPUs its partition gets is known only then, and CUDA must see only those.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from typing import Iterator

import pandas as pd

from udfs.energy.ledger import WARM_UP
from udfs.engine import import_vllm
from udfs.energy.task import idle_power_or_none, ledger_listener, meters_for, monitor_for
from udfs.task_info import current_task, log_to_stderr

log = logging.getLogger("notewatt.warmup")


_warm_up: threading.Event | None = None  # this worker's import, set once it has ended; started by a warm-up task


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
    _warm_up = threading.Event()
    threading.Thread(target=_import, args=(_warm_up, settings, metered, listener), name="vllm-import",
                     daemon=True).start()


def _import(done: threading.Event, settings, metered, listener) -> None:
    """The thread: vLLM's import inside an energy window (idle power read first, as before an engine load)."""
    try:
        monitor = monitor_for(settings.metering, metered, [idle_power_or_none(m) for m in metered.meters])
        with monitor.measure(listener) as window:
            import_vllm(settings.engine)
        log.info("vLLM imported in pid %d in %.1f s (warm-up)", os.getpid(), window.measurement.duration_s)
    except Exception as exc:  # the window ended as failed; the partition's own import then fails with the error
        log.warning("vLLM import failed in the warm-up (%s)", type(exc).__name__)
    finally:
        done.set()


def wait_for_warm_up() -> None:
    """Wait for this worker's warm-up import, if one is running: never two imports of vLLM at once."""
    if _warm_up is not None:
        _warm_up.wait()
