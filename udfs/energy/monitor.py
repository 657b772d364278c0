"""Energy windows: begin before work, end after it, get a Measurement with a reading per device that says where its
joules came from.

Modelled on Zeus's ZeusMonitor: one monitor, begin/end windows, a Measurement with its readings per device, devices
behind a meter layer (udfs/energy/meters.py). While a window is open a sampler thread reads power (and counters) at
a fixed interval and, every `heartbeat_s`, hands the window's energy so far to the window's listener (the energy
ledger, the run's record of every window). At the end, a device's energy is its counter delta when the counter
moved, otherwise the trapezoid integral of its power samples (NVML's counter updates only about every 100 ms); a
counter that did not move with no power samples to fall back on is not "0 J measured": that device is `unmetered`
with the reason. A meter that raises fails only its own device: it is read no more, its reading up to then is kept
as a lower bound, and the reason goes with it; the other devices are read on.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from udfs.energy.meters import NO_READING, UNMETERED, Meter

log = logging.getLogger("notewatt.energy")


@dataclass(frozen=True)
class Sample:
    t: float  # monotonic seconds
    energy_j: float | None
    power_w: float | None


@dataclass(frozen=True)
class DeviceReading:
    """One device's energy over a window: what its counter or power samples said, before any apportioning."""

    device: str  # GPU UUID, or "cpu"
    device_name: str
    component: str  # gpu | host
    scope: str  # "device" (whole-device draw, shared by overlapping windows) | "process"
    energy_source: str  # nvml_counter | nvml_power | rapl | estimate | unmetered
    energy_j: float
    peak_power_w: float | None
    idle_power_w: float | None  # read once per worker before the engine loaded; None where unavailable
    samples: int
    counter_start_j: float | None = None  # a shared counter's readings at the window's edges, which let
    counter_end_j: float | None = None  # the driver split overlapping windows exactly (udfs/energy/shared_devices.py)
    partial_reason: str | None = None  # why this device's figure is incomplete (a lower bound, or missing)


@dataclass(frozen=True)
class Measurement:
    """Energy of one window: its readings by device, and the window's totals derived from them."""

    window_id: str
    start_ts: float  # unix seconds
    end_ts: float
    duration_s: float
    sample_interval_s: float
    devices: dict[str, DeviceReading] = field(default_factory=dict)  # by device id, in the meters' order
    unmetered: str | None = None  # devices the work used that no meter reads (NVML's error)

    @property
    def energy_j(self) -> float:
        return sum((d.energy_j for d in self.devices.values()), 0.0)

    @property
    def sources(self) -> tuple[str, ...]:
        """The sources of the window's joules (unmetered where a device the work used is not read; no_reading for
        a window none of whose devices has been read twice yet)."""
        found = {d.energy_source for d in self.devices.values()} | ({UNMETERED} if self.unmetered else set())
        return tuple(sorted(found)) or (NO_READING,)

    @property
    def energy_source(self) -> str:
        """The sources as the tables' `energy_source` column writes them."""
        return ",".join(self.sources)

    @property
    def partial_reasons(self) -> tuple[str, ...]:
        return tuple(r for r in (self.unmetered, *(d.partial_reason for d in self.devices.values())) if r)

    @property
    def partial(self) -> bool:
        return bool(self.partial_reasons)

    @property
    def partial_reason(self) -> str | None:
        return "; ".join(self.partial_reasons) or None

    @property
    def avg_power_w(self) -> float:
        return self.energy_j / self.duration_s

    @property
    def peak_power_w(self) -> float | None:
        peaks = [d.peak_power_w for d in self.devices.values()]
        return sum(peaks) if peaks and None not in peaks else None

    @property
    def idle_power_w(self) -> float | None:
        idles = [d.idle_power_w for d in self.devices.values()]
        return sum(idles) if idles and None not in idles else None

    @property
    def samples(self) -> int:
        return min((d.samples for d in self.devices.values()), default=1)


def trapezoid_energy_j(samples: list[tuple[float, float]]) -> float:
    """Integral of (t, watts) samples over time, by the trapezoid rule."""
    return sum((t1 - t0) * (p0 + p1) / 2 for (t0, p0), (t1, p1) in zip(samples, samples[1:]))


def counter_power_w(samples: list[Sample]) -> list[float]:
    """Average power between consecutive counter readings (for peak power where no power reading exists)."""
    pairs = [(a, b) for a, b in zip(samples, samples[1:]) if a.energy_j is not None and b.energy_j is not None]
    return [(b.energy_j - a.energy_j) / (b.t - a.t) for a, b in pairs if b.t > a.t]


@dataclass
class DeviceResult:
    energy_j: float
    source: str
    peak_power_w: float | None
    problem: str | None = None  # why the figure is incomplete (the window is then partial)


def device_energy(meter: Meter, samples: list[Sample]) -> DeviceResult:
    """One device's energy over a window from its readings (first and last sample bound the window): the
    counter's delta when it moved, else integrated power samples, else 0 J `unmetered` with the problem named."""
    first, last = samples[0], samples[-1]
    power = [(s.t, s.power_w) for s in samples if s.power_w is not None]
    peaks = [p for _, p in power] or counter_power_w(samples)
    peak = max(peaks) if peaks else None
    if first.energy_j is not None and last.energy_j is not None and last.energy_j > first.energy_j:
        return DeviceResult(last.energy_j - first.energy_j, meter.counter_source, peak)
    if len(power) >= 2:
        return DeviceResult(trapezoid_energy_j(power), meter.power_source, peak)
    seconds = last.t - first.t
    if first.energy_j is not None and last.energy_j is not None:
        problem = f"{meter.device}: energy counter did not advance in {seconds:.3f} s and no power samples"
    else:
        problem = f"{meter.device}: no energy counter or power readings in {seconds:.3f} s"
    return DeviceResult(0.0, UNMETERED, peak, problem)


def read(meter: Meter) -> Sample:
    """A full reading (counter and power): taken at a window's start and end, and at heartbeats."""
    return Sample(time.monotonic(), meter.energy_j(), meter.power_w())


def tick(meter: Meter) -> Sample:
    """A sampling-tick reading: power only where the device reports it (one NVML call instead of two);
    the counter where it does not, so peak power can still be derived from counter deltas."""
    power = meter.power_w()
    return Sample(time.monotonic(), None if power is not None else meter.energy_j(), power)


Listener = Callable[["Measurement", str], None]  # (the window so far or at its end, "open" | "closed" | "failed")


@dataclass
class DeviceTrace:
    """A device's readings in one window, and what stopped them if its meter raised."""

    meter: Meter
    idle_power_w: float | None
    samples: list[Sample] = field(default_factory=list)
    error: str | None = None

    def take(self, reading: Callable[[Meter], Sample], when: str) -> None:
        if self.error is not None:
            return
        try:
            self.samples.append(reading(self.meter))
        except Exception as exc:  # this device only: the others are read on
            self.error = f"{self.meter.device}: {when} failed: {type(exc).__name__}"
            log.warning("energy meter %s: %s", self.meter.device_name, self.error)


@dataclass
class Window:
    window_id: str
    start_ts: float
    traces: list[DeviceTrace]
    listener: Listener | None = None
    stop: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None
    measurement: Measurement | None = None  # set once the window has ended


class EnergyMonitor:
    """Measures windows of work on a fixed set of meters (the devices one Spark task uses, and its host)."""

    def __init__(
        self, meters: list[Meter], sample_interval_s: float = 0.1, idle_power_w: list[float | None] | None = None,
        heartbeat_s: float = 30.0, unmetered: str | None = None,
    ):
        if not meters:
            raise ValueError("an energy monitor needs at least one meter")
        self.meters = meters
        self.sample_interval_s = sample_interval_s
        self.idle_power_w = idle_power_w or [None] * len(meters)
        self.heartbeat_s = heartbeat_s
        self.unmetered = unmetered  # devices the work used that no meter reads (every window is then partial)

    def begin(self, listener: Listener | None = None) -> Window:
        traces = [DeviceTrace(meter, idle) for meter, idle in zip(self.meters, self.idle_power_w)]
        for trace in traces:
            trace.take(read, "the first reading")
        window = Window(uuid.uuid4().hex, time.time(), traces, listener)
        if listener is not None:  # an attempt killed before its first heartbeat still leaves its window behind
            listener(self._measurement(window), "open")
        if self.sample_interval_s > 0:
            window.thread = threading.Thread(target=self._sample, args=(window,), name="energy-sampler", daemon=True)
            window.thread.start()
        return window

    @contextmanager
    def measure(self, listener: Listener | None = None) -> Iterator[Window]:
        """A window around the block; ended (sampler joined, listener told) also when the block raises or a
        generator holding it is closed, and then the error propagates. `window.measurement` after the block."""
        window = self.begin(listener)
        try:
            yield window
        except BaseException as exc:
            self.end(window, failure=type(exc).__name__)
            raise
        self.end(window)

    def _sample(self, window: Window) -> None:
        """The sampler thread: a tick every sample_interval_s, a full reading and the listener every heartbeat_s."""
        next_beat = time.monotonic() + self.heartbeat_s
        while not window.stop.wait(self.sample_interval_s):
            beat = window.listener is not None and time.monotonic() >= next_beat
            for trace in window.traces:
                trace.take(read if beat else tick, "sampling")
            if beat:
                next_beat += self.heartbeat_s
                window.listener(self._measurement(window), "open")

    def end(self, window: Window, failure: str | None = None) -> Measurement:
        """Stop sampling, take the final readings and return the window's Measurement (the same one if the
        window has ended before). `failure` names the exception a failed window ended with."""
        if window.measurement is not None:
            return window.measurement
        window.stop.set()
        if window.thread is not None:
            window.thread.join()
        for trace in window.traces:
            trace.take(read, "the final reading")
        window.measurement = self._measurement(window)
        if window.measurement.energy_j == 0:
            log.warning("energy window %s read 0 J: %s", window.window_id, window.measurement.partial_reason)
        if window.listener is not None:
            window.listener(window.measurement, "failed" if failure else "closed")
        return window.measurement

    def _measurement(self, window: Window) -> Measurement:
        end_ts = time.time()
        devices = {t.meter.device: _reading(t) for t in window.traces if len(t.samples) >= 2 or t.error}
        return Measurement(window.window_id, window.start_ts, end_ts, max(end_ts - window.start_ts, 1e-9),
                           self.sample_interval_s, devices, self.unmetered)


def _reading(trace: DeviceTrace) -> DeviceReading:
    """A device's reading from its trace; a meter that raised mid-window leaves a lower bound, with the reason."""
    meter = trace.meter
    if len(trace.samples) < 2:  # the meter raised before it could be read twice: this device's energy is missing
        return DeviceReading(meter.device, meter.device_name, meter.component, meter.scope, UNMETERED, 0.0, None,
                             trace.idle_power_w, len(trace.samples), partial_reason=trace.error)
    result = device_energy(meter, trace.samples)
    from_counter = meter.shared_counter and result.source == meter.counter_source and result.problem is None
    edges = (trace.samples[0].energy_j, trace.samples[-1].energy_j) if from_counter else (None, None)
    problems = [p for p in (trace.error, result.problem, meter.problem) if p]
    return DeviceReading(
        meter.device, meter.device_name, meter.component, meter.scope, result.source, result.energy_j,
        result.peak_power_w, trace.idle_power_w, len(trace.samples), *edges, "; ".join(problems) or None,
    )


def idle_power_w(meter: Meter, seconds: float = 0.5, readings: int = 5) -> float | None:
    """A device's idle draw, read before the engine loads: the mean of a few power readings, or the
    counter's rate over `seconds` where it has no power reading. None for per-process estimates, whose
    figures are already the process's own (there is no device idle to subtract)."""
    if meter.scope != "device":
        return None
    if meter.power_w() is not None:
        values = []
        for _ in range(readings):
            values.append(meter.power_w())
            time.sleep(seconds / readings)
        return sum(values) / len(values)
    start, t0 = meter.energy_j(), time.monotonic()
    time.sleep(seconds)
    end, t1 = meter.energy_j(), time.monotonic()
    return None if start is None or end is None else (end - start) / (t1 - t0)
