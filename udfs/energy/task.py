"""A task's energy plumbing: which meters it uses, the monitor over them, and the ledger entries its
windows leave (udfs/energy/ledger.py). Settings come from the driver (the `energy` config)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from udfs.energy.monitor import EnergyMonitor, Listener, Measurement, idle_power_w
from udfs.energy.ledger import EnergyLedger, LedgerEntry
from udfs.energy.meters import TaskMeters, task_meters
from udfs.task_info import TaskInfo

log = logging.getLogger("notewatt.energy")


@dataclass(frozen=True)
class MeteringSettings:
    sample_interval_s: float = 0.1
    cpu_watts_per_core: float = 10.0  # the labelled CPU+DRAM estimate only
    dram_watts_per_gib: float = 0.375
    require_measured: bool = False  # fail the task when its GPUs (or, without GPUs, RAPL) cannot be read
    heartbeat_s: float = 30.0
    ledger_folder: str | None = None  # this run's (and job attempt's) ledger folder; None: no ledger


def meters_for(settings: MeteringSettings, gpu_addresses: tuple[str, ...]) -> TaskMeters:
    """The task's GPUs (Spark's addresses, else what the process sees) and its host; see task_meters."""
    return task_meters(gpu_addresses, settings.require_measured, settings.cpu_watts_per_core,
                       settings.dram_watts_per_gib)


NOTES_GENERATING = "notes_generating"  # a partition's notes done inside a running generate call, not yet counted


def idle_power_or_none(meter) -> float | None:
    """A device's idle draw, or None (above-idle figures then unavailable) when it cannot be read: an idle reading
    is a nice-to-have that must not fail the task."""
    try:
        return idle_power_w(meter)
    except Exception as exc:
        log.warning("idle power of %s could not be read (%s): no above-idle figures", meter.device, type(exc).__name__)
        return None


def monitor_for(settings: MeteringSettings, metered: TaskMeters, idle_power_w: list[float | None] | None) -> EnergyMonitor:
    return EnergyMonitor(metered.meters, settings.sample_interval_s, idle_power_w, settings.heartbeat_s,
                         metered.unmetered)


def ledger_listener(
    settings: MeteringSettings, run_id: str, variant: str, task: TaskInfo, window: str,
    progress: dict[str, int] | None = None, engine: dict[str, str | None] | None = None,
) -> Listener:
    """What a window tells the ledger when it begins, at each heartbeat and at its end: its readings, with the notes
    and tokens it has done so far (`progress`, kept up to date by the partition) and its engine's model, dtype and
    state (`engine`, filled in once the engine is there); neither for a warm-up's import."""
    ledger = EnergyLedger(settings.ledger_folder)
    counts = progress if progress is not None else {}
    details = engine if engine is not None else {}

    def record(m: Measurement, state: str) -> None:
        ledger.record(LedgerEntry(
            run_id=run_id, window=window, state=state, variant=variant, partition_id=task.partition_id,
            task_attempt=task.task_attempt, host=task.host, executor_id=task.executor_id, pid=task.pid,
            measurement=m, model=details.get("model"), dtype=details.get("dtype"), engine=details.get("engine"),
            notes=counts.get("notes", 0) + counts.get(NOTES_GENERATING, 0),
            **{name: counts.get(name, 0) for name in ("prompt_tokens", "output_tokens", "cached_prompt_tokens")},
        ))

    return record
