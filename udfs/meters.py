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
    """Labelled estimate: this process's CPU time (all its threads, vLLM's included) x watts per core."""

    watts_per_core: float
    device: str = "cpu"
    device_name: str = "cpu (estimate)"
    counter_source: str = "estimate"
    power_source: str = "estimate"

    def energy_j(self) -> float | None:
        return time.process_time() * self.watts_per_core

    def power_w(self) -> float | None:
        return None


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


def meters_for_task(gpu_addresses: list[str], watts_per_core: float) -> list[Meter]:
    """The meters a partition is measured with: its GPUs, else RAPL, else the labelled CPU-time estimate."""
    return nvml_gpu_meters(gpu_addresses) or [rapl_meter() or CpuTimeEstimateMeter(watts_per_core)]
