"""Energy meters: one narrow interface over NVML GPUs, RAPL domains and the CPU-time estimate.

A meter reports a cumulative energy counter in joules and/or an instantaneous power in watts; the
energy monitor turns readings taken at a window's start, end and sampling ticks into a Measurement.
Keeping NVML and sysfs behind this interface is what lets the integration logic be tested on
synthetic traces.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

RAPL_ROOT = Path("/sys/class/powercap")


class Meter(Protocol):
    device: str  # GPU UUID, "cpu" ...
    device_name: str
    counter_source: str  # energy_source label for counter readings
    power_source: str  # energy_source label for integrated power samples
    scope: str  # "device": the whole device's draw (overlapping windows share it); "process": this process only
    shared_counter: bool  # the counter is the device's own, so readings from different processes share one scale

    def energy_j(self) -> float | None:
        """Cumulative energy in joules, or None where the device has no counter."""

    def power_w(self) -> float | None:
        """Instantaneous power in watts, or None where the device cannot report it."""


@dataclass
class NvmlGpuMeter:
    """One GPU through NVML: total-energy counter (Volta and newer) and power draw."""

    handle: object
    device: str
    device_name: str
    counter_source: str = "nvml_counter"
    power_source: str = "nvml_power"
    scope: str = "device"
    shared_counter: bool = True

    def energy_j(self) -> float | None:
        import pynvml

        try:
            return pynvml.nvmlDeviceGetTotalEnergyConsumption(self.handle) / 1000.0
        except pynvml.NVMLError_NotSupported:
            return None

    def power_w(self) -> float | None:
        import pynvml

        return pynvml.nvmlDeviceGetPowerUsage(self.handle) / 1000.0


@dataclass
class RaplMeter:
    """CPU package (+ DRAM) energy from the powercap sysfs counters, unwrapped across overflow."""

    zones: list[Path]
    device: str = "cpu"
    device_name: str = "cpu (rapl)"
    counter_source: str = "rapl"
    power_source: str = "rapl"
    scope: str = "device"
    shared_counter: bool = False  # unwrapped per meter, so each process has its own offset

    def __post_init__(self) -> None:
        self._last = {zone: self._read(zone) for zone in self.zones}
        self._total_uj = 0

    @staticmethod
    def _read(zone: Path) -> int:
        return int((zone / "energy_uj").read_text())

    def energy_j(self) -> float | None:
        for zone in self.zones:
            now = self._read(zone)
            delta = now - self._last[zone]
            if delta < 0:  # the counter wrapped at max_energy_range_uj
                delta += int((zone / "max_energy_range_uj").read_text())
            self._total_uj += delta
            self._last[zone] = now
        return self._total_uj / 1e6

    def power_w(self) -> float | None:
        return None


@dataclass
class CpuTimeEstimateMeter:
    """Labelled estimate of this process's CPU + DRAM energy: its CPU time (all its threads, vLLM's
    included) x watts per core, plus its resident memory x watts per GiB over time (CodeCarbon's DRAM
    rule of thumb is 3 W per 8 GB, 0.375 W/GiB). Memory is integrated between readings, so the sampler's
    ticks keep it current."""

    watts_per_core: float
    dram_watts_per_gib: float = 0.0
    device: str = "cpu"
    device_name: str = "cpu+dram (estimate)"
    counter_source: str = "estimate"
    power_source: str = "estimate"
    scope: str = "process"
    shared_counter: bool = False

    def __post_init__(self) -> None:
        self._dram_j, self._last_t = 0.0, time.monotonic()

    def energy_j(self) -> float | None:
        now = time.monotonic()
        self._dram_j += resident_gib() * self.dram_watts_per_gib * (now - self._last_t)
        self._last_t = now
        return time.process_time() * self.watts_per_core + self._dram_j

    def power_w(self) -> float | None:
        return None


def resident_gib() -> float:
    """This process's resident memory in GiB (0 where /proc is unavailable)."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return 0.0
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**30


def nvml_gpu_meters(addresses: list[str]) -> list[NvmlGpuMeter]:
    """Meters for the GPUs Spark assigned to this task; [] where NVML is unavailable or none are assigned.

    Spark's addresses are GPU indices or UUIDs as its discovery script printed them. Indices count in
    the physical NVML order unless CUDA_VISIBLE_DEVICES remaps them, in which case an index is a
    position in that list.
    """
    if not addresses:
        return []
    try:
        import pynvml

        pynvml.nvmlInit()
    except Exception:  # NVMLError_LibraryNotFound on machines without a driver
        return []
    return [_nvml_meter(pynvml, address) for address in addresses]


def _nvml_meter(pynvml, address: str) -> NvmlGpuMeter:
    address = physical_gpu_address(address, os.environ.get("CUDA_VISIBLE_DEVICES"))
    if address.isdigit():
        handle = pynvml.nvmlDeviceGetHandleByIndex(int(address))
    else:
        handle = pynvml.nvmlDeviceGetHandleByUUID(address)
    return NvmlGpuMeter(
        handle=handle,
        device=_text(pynvml.nvmlDeviceGetUUID(handle)),
        device_name=_text(pynvml.nvmlDeviceGetName(handle)),
    )


def physical_gpu_address(address: str, cuda_visible_devices: str | None) -> str:
    """Map a task's GPU address to an NVML index or UUID, honouring a CUDA_VISIBLE_DEVICES remap."""
    address = address.strip()
    visible = [d.strip() for d in (cuda_visible_devices or "").split(",") if d.strip()]
    if address.isdigit() and visible and int(address) < len(visible):
        return visible[int(address)]
    return address


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def rapl_meter(root: Path = RAPL_ROOT) -> RaplMeter | None:
    """A meter over the readable top-level RAPL zones (package, and dram where exposed), or None."""
    zones = sorted(p for p in root.glob("intel-rapl:*") if p.name.count(":") == 1) if root.exists() else []
    readable = [zone for zone in zones if os.access(zone / "energy_uj", os.R_OK)]
    dram = [sub for zone in readable for sub in zone.glob("intel-rapl:*:*") if _zone_name(sub) == "dram"]
    return RaplMeter(zones=readable + dram) if readable else None


def _zone_name(zone: Path) -> str:
    try:
        return (zone / "name").read_text().strip()
    except OSError:
        return ""


def meters_for_task(gpu_addresses: list[str], watts_per_core: float, dram_watts_per_gib: float = 0.0) -> list[Meter]:
    """The meters a partition is measured with: its GPUs, else RAPL, else the labelled CPU+DRAM estimate."""
    return nvml_gpu_meters(gpu_addresses) or [
        rapl_meter() or CpuTimeEstimateMeter(watts_per_core, dram_watts_per_gib)
    ]
