"""Devices shared by overlapping windows: apportion their energy so that no joule is counted twice.

A window's reading of a whole device (NVML counter or power, RAPL package) is the device's energy over
the window. When windows overlap on one device (`spark.task.resource.gpu.amount` < 1, or several tasks
on one RAPL package), each reading also contains the others' work, and summing them double counts.

Rule: cut the device's time line at every window boundary and find the device's energy in each segment:
exactly, as the difference of the device's own counter (NVML's total-energy counter, read by whichever
windows opened or closed at the segment's ends); otherwise by taking each overlapping window's power as
constant (its energy / its duration) and averaging them. The segment's energy is split among its windows
by token rate (tokens / duration), or equally when one of them has no tokens (an engine load). Windows
that never overlap keep exactly what they read. Above-idle energy is the segment's energy less idle
power x segment length, split the same way; a window's total is floored at 0. Per-process estimates
(scope "process") never share a reading and pass through unchanged.

Pure Python: the run's accounting of its ledger uses it (udfs/energy/accounting.py), and the GPU check script too.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DeviceWindow:
    start_ts: float
    end_ts: float
    energy_j: float  # the device's reading over the window
    tokens: int
    idle_power_w: float | None
    counter_start_j: float | None = None  # the device counter at the window's edges, where it is shared
    counter_end_j: float | None = None

    @property
    def duration_s(self) -> float:
        return self.end_ts - self.start_ts


@dataclass(frozen=True)
class Attributed:
    energy_j: float
    above_idle_j: float | None
    overlap_s: float  # seconds this window shared the device with another


def apportion(windows: list[DeviceWindow]) -> list[Attributed]:
    """Each window's share of one device's energy (see the module docstring for the rule)."""
    energy, above, overlap = [0.0] * len(windows), [0.0] * len(windows), [0.0] * len(windows)
    idle, counter = _common_idle(windows), _counter_edges(windows)
    cuts = sorted({t for w in windows for t in (w.start_ts, w.end_ts)})
    for a, b in zip(cuts, cuts[1:]):
        active = [i for i, w in enumerate(windows) if w.start_ts <= a and w.end_ts >= b and w.duration_s > 0]
        if not active:
            continue
        if a in counter and b in counter:
            segment_j = max(counter[b] - counter[a], 0.0)
        else:
            segment_j = sum(windows[i].energy_j / windows[i].duration_s for i in active) / len(active) * (b - a)
        above_j = segment_j - idle * (b - a) if idle is not None else 0.0
        for i, share in zip(active, _shares([windows[i] for i in active])):
            energy[i] += segment_j * share
            above[i] += above_j * share
            overlap[i] += (b - a) if len(active) > 1 else 0.0
    return [
        Attributed(
            energy_j=energy[i] if w.duration_s > 0 else w.energy_j,
            above_idle_j=max(above[i], 0.0) if idle is not None and w.duration_s > 0 else None,
            overlap_s=overlap[i],
        )
        for i, w in enumerate(windows)
    ]


def _counter_edges(windows: list[DeviceWindow]) -> dict[float, float]:
    """Device counter readings by time, from every window that read a shared counter at its edges."""
    edges = {}
    for w in windows:
        if w.counter_start_j is not None and w.counter_end_j is not None:
            edges[w.start_ts], edges[w.end_ts] = w.counter_start_j, w.counter_end_j
    return edges


def _common_idle(windows: list[DeviceWindow]) -> float | None:
    """The device's idle power (the mean of the workers' readings), or None if any window lacks one."""
    readings = [w.idle_power_w for w in windows]
    if not readings or any(r is None for r in readings):
        return None
    return sum(readings) / len(readings)


def _shares(active: list[DeviceWindow]) -> list[float]:
    rates = [w.tokens / w.duration_s for w in active]
    if len(active) == 1 or min(rates) <= 0:
        return [1.0 / len(active)] * len(active)
    return [r / sum(rates) for r in rates]
