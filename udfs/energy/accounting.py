"""A run's energy, accounted from its ledger alone (udfs/energy/ledger.py). Pure Python over ledger entries; the
driver turns the result into the tables' frames (notewatt/energy_frames.py).

- **Kept partitions**: the windows of the task attempts whose note rows the run kept (their window ids are on the
  notes). Their energy is the notes' energy.
- **Engine loads**: every model load and warm-up import in the ledger (a warmed worker that ran no partition of the
  run is counted too: `unreported_warm_ups`). Kept out of the notes' energy, in the all-in figure.
- **Discarded attempts**: every other partition window (failed, killed, speculative losers): reported as retry
  energy, never charged to notes.
- A window still `open` in the ledger (killed, or a warm-up still importing) counts up to its last heartbeat: a
  lower bound (`unfinished`). A kept window the ledger lacks is `missing`: its energy is unknown and the run's
  energy is then incomplete.

Windows that overlapped on one device (a GPU, a RAPL package) have it apportioned so that no joule counts twice
(udfs/energy/shared_devices.py); each window's rows carry its attributed energy, split into GPU and host, the share
of it that was measured, and what the devices read.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from udfs.energy.ledger import LOADS, OPEN, PARTITION, WARM_UP, LedgerEntry
from udfs.energy.meters import GPU, HOST, MEASURED_SOURCES
from udfs.energy.shared_devices import Attributed, DeviceWindow, apportion
from udfs.energy.vocabulary import EnergyStatus, status_of


@dataclass(frozen=True)
class WindowFigures:
    """A group of windows in one figure: their joules, how many, how many were unfinished, their status."""

    energy_j: float | None  # None: unknown (the ledger could not be read)
    windows: int | None
    unfinished: int | None = 0
    status: str | None = None  # energy status name of their sources; None without any

    @classmethod
    def of(cls, entries: list[LedgerEntry]) -> WindowFigures:
        return cls(sum(e.measurement.energy_j for e in entries), len(entries),
                   sum(e.state == OPEN for e in entries), window_status(entries).name if entries else None)


UNKNOWN = WindowFigures(None, None, None)


@dataclass(frozen=True)
class RunEnergy:
    partitions: tuple[LedgerEntry, ...] = ()  # kept partition windows
    loads: tuple[LedgerEntry, ...] = ()  # engine loads and warm-ups
    discarded: tuple[LedgerEntry, ...] = ()  # partition windows of attempts the run did not keep
    missing: tuple[str, ...] = ()  # kept window ids the ledger lacks
    readable: bool = True  # False: the ledger could not be read, every figure is unknown
    attributed: dict[tuple[str, str], Attributed] = field(default_factory=dict)  # (window, device) -> its share

    @property
    def retry(self) -> WindowFigures:
        return WindowFigures.of(list(self.discarded)) if self.readable else UNKNOWN

    @property
    def engine_loads(self) -> WindowFigures:
        return WindowFigures.of(list(self.loads)) if self.readable else UNKNOWN

    @property
    def unreported_warm_ups(self) -> int:
        """Warm-ups in workers that ran no kept partition of the run."""
        workers = {(e.executor_id, e.pid) for e in self.partitions}
        return sum(e.window == WARM_UP and (e.executor_id, e.pid) not in workers for e in self.loads)

    def status(self, variant: str | None = None) -> EnergyStatus:
        """The energy status of the kept partitions (of one variant's, where named): incomplete also when a kept
        window is missing from the ledger or the ledger could not be read."""
        kept = [e for e in self.partitions if variant is None or e.variant == variant]
        incomplete = not self.readable or bool(self.missing)
        return window_status(kept, unread=incomplete)

    def partial_reasons(self) -> list[str]:
        """Why the run's energy is not complete: its windows' reasons (distinct, in order) and missing windows."""
        reasons = dict.fromkeys(r for e in self.partitions for r in e.measurement.partial_reasons)
        if self.missing:
            reasons[f"the energy ledger lacks {len(self.missing)} of the run's windows"] = None
        if not self.readable:
            reasons["the energy ledger could not be read"] = None
        return list(reasons)


def window_status(entries: list[LedgerEntry], unread: bool = False) -> EnergyStatus:
    """The status of these windows' energy: their sources, each partial window and any unread window counting as
    incomplete (vocabulary.status_of)."""
    return status_of([e.measurement.sources for e in entries],
                     incomplete=unread or any(e.measurement.partial for e in entries))


def account(entries: list[LedgerEntry], kept_window_ids: set[str]) -> RunEnergy:
    """The run's windows: kept partitions (by the window ids on its note rows), engine loads, discarded attempts,
    and each kept window's share of the devices it shared."""
    partitions = [e for e in entries if e.window == PARTITION]
    kept = tuple(e for e in partitions if e.window_id in kept_window_ids)
    loads = tuple(e for e in entries if e.window in LOADS)
    discarded = tuple(e for e in partitions if e.window_id not in kept_window_ids)
    missing = tuple(sorted(kept_window_ids - {e.window_id for e in kept}))
    return RunEnergy(kept, loads, discarded, missing, attributed=attribute_devices([*kept, *loads]))


def attribute_devices(entries: list[LedgerEntry]) -> dict[tuple[str, str], Attributed]:
    """Each window's share of each of its devices, apportioned among the windows that overlapped on the same
    physical device (a host's `cpu` is one device per host); per-process estimates pass through unchanged."""
    groups: dict[tuple[str, str], list[tuple[LedgerEntry, object]]] = defaultdict(list)
    for entry in entries:
        for device in entry.measurement.devices.values():
            groups[(entry.host, device.device)].append((entry, device))
    shares = {}
    for members in groups.values():
        whole_device = all(d.scope == "device" for _, d in members)
        windows = [DeviceWindow(e.measurement.start_ts, e.measurement.end_ts, d.energy_j,
                                e.prompt_tokens + e.output_tokens, d.idle_power_w, d.counter_start_j, d.counter_end_j)
                   for e, d in members]
        attributed = apportion(windows) if whole_device else [Attributed(w.energy_j, None, 0.0) for w in windows]
        shares.update({(e.window_id, d.device): a for (e, d), a in zip(members, attributed)})
    return shares


def window_row(entry: LedgerEntry, attributed: dict[tuple[str, str], Attributed]) -> dict:
    """A window's row (partition_energy's, engine_loads' columns): its attributed energy, GPU and host parts, the
    measured share, above-idle energy and whether it shared a device, beside its readings."""
    m = entry.measurement
    devices = [(d, attributed[(entry.window_id, d.device)]) for d in m.devices.values()]
    energy = sum((a.energy_j for _, a in devices), 0.0)
    part = lambda test: sum((a.energy_j for d, a in devices if test(d)), 0.0)  # noqa: E731
    above = [a.above_idle_j for _, a in devices]
    return _identity(entry) | dict(
        device=",".join(m.devices) or None, device_name=",".join(d.device_name for d in m.devices.values()) or None,
        energy_source=m.energy_source, start_ts=m.start_ts, end_ts=m.end_ts, duration_s=m.duration_s,
        energy_j=energy, device_reading_j=m.energy_j,
        energy_above_idle_j=sum(above) if devices and None not in above else None,
        above_idle_available=bool(devices) and None not in above,
        avg_power_w=m.avg_power_w, peak_power_w=m.peak_power_w, idle_power_w=m.idle_power_w, samples=m.samples,
        sample_interval_s=m.sample_interval_s, partial=m.partial, partial_reason=m.partial_reason,
        shared_device=any(a.overlap_s > 0 for _, a in devices), overlap_s=max((a.overlap_s for _, a in devices),
                                                                             default=0.0),
        gpu_energy_j=part(lambda d: d.component == GPU), host_energy_j=part(lambda d: d.component == HOST),
        measured_share=part(lambda d: d.energy_source in MEASURED_SOURCES) / energy if energy else None,
    )


def device_rows(entry: LedgerEntry, attributed: dict[tuple[str, str], Attributed]) -> list[dict]:
    """A window's device rows (device_energy's columns): each device's reading and its attributed share."""
    m = entry.measurement
    rows = []
    for d in m.devices.values():
        a = attributed[(entry.window_id, d.device)]
        rows.append(_identity(entry) | dict(
            device=d.device, device_name=d.device_name, component=d.component, scope=d.scope,
            energy_source=d.energy_source, start_ts=m.start_ts, end_ts=m.end_ts, duration_s=m.duration_s,
            energy_j=a.energy_j, device_reading_j=d.energy_j, energy_above_idle_j=a.above_idle_j,
            above_idle_available=a.above_idle_j is not None, avg_power_w=d.energy_j / m.duration_s,
            peak_power_w=d.peak_power_w, idle_power_w=d.idle_power_w, samples=d.samples,
            sample_interval_s=m.sample_interval_s, partial=d.partial_reason is not None,
            partial_reason=d.partial_reason, shared_device=a.overlap_s > 0, overlap_s=a.overlap_s,
            counter_start_j=d.counter_start_j, counter_end_j=d.counter_end_j,
        ))
    return rows


def _identity(entry: LedgerEntry) -> dict:
    return dict(
        run_id=entry.run_id, window=entry.window, window_id=entry.window_id, variant=entry.variant,
        model=entry.model, dtype=entry.dtype, engine_state=entry.engine, partition_id=entry.partition_id,
        task_attempt=entry.task_attempt, host=entry.host, executor_id=entry.executor_id, pid=entry.pid,
        notes=entry.notes, prompt_tokens=entry.prompt_tokens, output_tokens=entry.output_tokens,
        cached_prompt_tokens=entry.cached_prompt_tokens,
    )
