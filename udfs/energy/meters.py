"""Energy meters: one narrow interface over NVML GPUs, RAPL domains and the CPU-time estimate, and the
choice of meters for a task.

A meter reports a cumulative energy counter in joules and/or an instantaneous power in watts; the
energy monitor (udfs/energy/monitor.py) turns readings taken at a window's start, end and sampling ticks into a
Measurement. Every window has a host meter (RAPL where readable, else the labelled CPU+DRAM estimate)
beside the GPUs its engine uses, so GPU and host energy are reported side by side and never mixed
without a label. The energy sources named here are the product's vocabulary (udfs/energy/vocabulary.py
gives their labels).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

RAPL_ROOT = Path("/sys/class/powercap")
log = logging.getLogger("notewatt.energy")

NVML_COUNTER = "nvml_counter"  # delta of a GPU's total-energy counter
NVML_POWER = "nvml_power"  # GPU power samples, integrated
RAPL = "rapl"  # CPU package and DRAM energy counters
ESTIMATE = "estimate"  # process CPU time x watts per core + resident memory x watts per GiB: not measured
UNMETERED = "unmetered"  # a device the work used that could not be read: its energy is missing (partial_reason)
NO_READING = "no_reading"  # a window none of whose devices was read twice yet (it has just opened): 0 J, unknown
MEASURED_SOURCES = (NVML_COUNTER, NVML_POWER, RAPL)

GPU, HOST = "gpu", "host"  # a meter's component: the window's energy_j is gpu_energy_j + host_energy_j

NO_GPU_ERRORS = ("NVMLError_LibraryNotFound", "NVMLError_DriverNotLoaded")  # NVML says: no NVIDIA GPU here


class Meter(Protocol):
    device: str  # GPU UUID, "cpu" ...
    device_name: str
    component: str  # GPU or HOST
    counter_source: str  # energy_source label for counter readings
    power_source: str  # energy_source label for integrated power samples
    scope: str  # "device": the whole device's draw (overlapping windows share it); "process": this process only
    shared_counter: bool  # the counter is the device's own, so readings from different processes share one scale
    problem: str | None  # a term the meter had to leave out of its figures so far (they are then a lower bound)

    def energy_j(self) -> float | None:
        """Cumulative energy in joules, or None where the device has no counter."""

    def power_w(self) -> float | None:
        """Instantaneous power in watts, or None where the device cannot report it."""


@dataclass
class NvmlGpuMeter:
    """One GPU through NVML: total-energy counter (Volta and newer) and power draw."""

    nvml: object = field(repr=False)  # the pynvml module (a fake one in unit tests)
    handle: object
    device: str
    device_name: str
    component: str = GPU
    counter_source: str = NVML_COUNTER
    power_source: str = NVML_POWER
    scope: str = "device"
    shared_counter: bool = True
    problem: str | None = None

    def energy_j(self) -> float | None:
        try:
            return self.nvml.nvmlDeviceGetTotalEnergyConsumption(self.handle) / 1000.0
        except self.nvml.NVMLError_NotSupported:  # before Volta: power samples only
            return None

    def power_w(self) -> float | None:
        try:
            return self.nvml.nvmlDeviceGetPowerUsage(self.handle) / 1000.0
        except self.nvml.NVMLError_NotSupported:  # a counter but no power reading: the counter alone
            return None


@dataclass
class RaplMeter:
    """CPU package (+ DRAM) energy from the powercap sysfs counters, unwrapped across overflow."""

    zones: list[Path]
    device: str = "cpu"
    device_name: str = "cpu+dram (rapl)"
    component: str = HOST
    counter_source: str = RAPL
    power_source: str = RAPL
    scope: str = "device"
    shared_counter: bool = False  # unwrapped per meter, so each process has its own offset
    problem: str | None = None

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
    """Labelled estimate of this worker's CPU + DRAM energy (estimated_energy_j): the CPU time of the process and
    its children (vLLM's engine core, where it runs in a process of its own), plus the process's resident memory
    over time (CodeCarbon's DRAM rule of thumb is 3 W per 8 GB, 0.375 W/GiB). Memory is integrated between
    readings, so the sampler's ticks keep it current."""

    watts_per_core: float
    dram_watts_per_gib: float = 0.0
    device: str = "cpu"
    device_name: str = "cpu+dram (estimate)"
    component: str = HOST
    counter_source: str = ESTIMATE
    power_source: str = ESTIMATE
    scope: str = "process"
    shared_counter: bool = False

    def __post_init__(self) -> None:
        self._gib_s, self._last_t = 0.0, time.monotonic()
        self._cpu = ProcessTreeCpu()

    @property
    def problem(self) -> str | None:
        return self._cpu.problem

    def energy_j(self) -> float | None:
        now = time.monotonic()
        self._gib_s += resident_gib() * (now - self._last_t)
        self._last_t = now
        return estimated_energy_j(self._cpu.seconds(), self._gib_s, self.watts_per_core, self.dram_watts_per_gib)

    def power_w(self) -> float | None:
        return None


def estimated_energy_j(cpu_s: float, resident_gib_s: float, watts_per_core: float, dram_watts_per_gib: float) -> float:
    """The host estimate's rule, the one place it is written: CPU seconds x watts per core + resident GiB-seconds x
    watts per GiB. Not a measurement: its source is always `estimate`."""
    return cpu_s * watts_per_core + resident_gib_s * dram_watts_per_gib


class ProcessTreeCpu:
    """CPU seconds of this process and its children, never decreasing: a child that exits keeps the time it
    was last seen with. The process tree is listed at most every `rescan_s` (listing reads every process
    in /proc); the known children's times are read on every call. A listing that fails leaves new children
    out: that is logged once and said in `problem` (the estimate is then a lower bound)."""

    def __init__(self, rescan_s: float = 5.0) -> None:
        self.rescan_s = rescan_s
        self._children: dict[int, object] = {}  # pid -> psutil.Process
        self._seconds: dict[int, float] = {}
        self._scanned = float("-inf")
        self.problem: str | None = None

    def seconds(self) -> float:
        import psutil

        if time.monotonic() - self._scanned >= self.rescan_s:
            self._scanned = time.monotonic()
            try:
                self._children = {c.pid: c for c in psutil.Process().children(recursive=True)}
                self.problem = None
            except psutil.Error as exc:
                if self.problem is None:
                    log.warning("CPU time of the worker's child processes could not be listed (%s): the host "
                                "estimate leaves new children out", type(exc).__name__)
                self.problem = f"cpu: child processes not listed ({type(exc).__name__}): their CPU time is missing"
        for pid, child in list(self._children.items()):
            try:
                times = child.cpu_times()
            except psutil.Error:  # exited: keep its last figure
                del self._children[pid]
                continue
            self._seconds[pid] = max(self._seconds.get(pid, 0.0), times.user + times.system)
        return time.process_time() + sum(self._seconds.values())


def resident_gib() -> float:
    """This process's resident memory in GiB (0 where /proc is unavailable)."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return 0.0
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**30


class GpuMeteringError(RuntimeError):
    """GPUs the task's engine uses cannot be read through NVML: names the device(s) and NVML's error."""


class MeteringError(RuntimeError):
    """energy.require_measured is true and the task's energy cannot be measured (one line: device and reason)."""


@dataclass(frozen=True)
class TaskMeters:
    meters: list[Meter]  # the task's GPUs, then its host
    unmetered: str | None = None  # why GPUs the task uses are not metered (NVML's error); None when all are


def task_meters(
    gpu_addresses: list[str] | tuple[str, ...], require_measured: bool, watts_per_core: float,
    dram_watts_per_gib: float = 0.0, environ: Mapping[str, str] = os.environ, rapl_root: Path = RAPL_ROOT,
    nvml=None,
) -> TaskMeters:
    """The meters a window of this task is measured with: the GPUs its engine uses (gpu_meters), and the
    host (RAPL, else the labelled estimate). GPUs NVML cannot read fail the task when `require_measured`
    (MeteringError), else they are left out and `unmetered` says why; with no GPU at all,
    `require_measured` needs RAPL."""
    host = rapl_meter(rapl_root) or CpuTimeEstimateMeter(watts_per_core, dram_watts_per_gib)
    try:
        gpus = gpu_meters(gpu_addresses, environ.get("CUDA_VISIBLE_DEVICES"), nvml)
    except GpuMeteringError as exc:
        if require_measured:
            raise MeteringError(f"energy.require_measured is true and {exc}") from None
        return TaskMeters([host], unmetered=f"{exc}; GPU energy not measured")
    if require_measured and not gpus and host.counter_source == ESTIMATE:
        raise MeteringError(
            "energy.require_measured is true, but this task has no GPU that NVML can read and no readable RAPL "
            f"counter under {rapl_root}: its energy would be an estimate"
        )
    return TaskMeters([*gpus, host])


def gpu_meters(addresses, cuda_visible_devices: str | None, nvml=None) -> list[NvmlGpuMeter]:
    """The GPUs the task's engine uses: Spark's addresses for the task; without them (local mode) the
    devices CUDA_VISIBLE_DEVICES names; without that, every device NVML sees. [] when none is expected and
    NVML finds no driver (a CPU machine) or CUDA_VISIBLE_DEVICES is empty. Each meter is read once here, so
    a GPU that NVML cannot read raises GpuMeteringError before any window opens."""
    visible = cuda_visible(cuda_visible_devices)
    expected = [physical_gpu_address(a, cuda_visible_devices) for a in addresses] or visible
    if expected == []:
        return []
    if nvml is None:
        import pynvml as nvml
    try:
        nvml.nvmlInit()
    except Exception as exc:
        if expected is None and type(exc).__name__ in NO_GPU_ERRORS:
            return []
        raise GpuMeteringError(f"NVML could not start for GPU(s) {', '.join(expected or ['(all)'])}: "
                               f"{_nvml_error(exc)}") from None
    if expected is None:
        expected = [str(i) for i in range(nvml.nvmlDeviceGetCount())]
    return [_nvml_meter(nvml, address) for address in expected]


def cuda_visible(value: str | None) -> list[str] | None:
    """The devices CUDA_VISIBLE_DEVICES lets CUDA see (None: unset, all of them). As CUDA does, the list ends
    at the first entry that is neither an index nor a GPU/MIG UUID, so "" and "-1" mean no GPU."""
    if value is None:
        return None
    visible = []
    for entry in (e.strip() for e in value.split(",")):
        if not (entry.isdigit() or entry.startswith(("GPU-", "MIG-"))):
            break
        visible.append(entry)
    return visible


def _nvml_meter(nvml, address: str) -> NvmlGpuMeter:
    """A meter for one GPU (an NVML index or UUID), read once to prove it can be read."""
    try:
        handle = (nvml.nvmlDeviceGetHandleByIndex(int(address)) if address.isdigit()
                  else nvml.nvmlDeviceGetHandleByUUID(address))
        meter = NvmlGpuMeter(nvml, handle, _text(nvml.nvmlDeviceGetUUID(handle)), _text(nvml.nvmlDeviceGetName(handle)))
        meter.power_w(), meter.energy_j()
    except Exception as exc:
        raise GpuMeteringError(f"GPU {address} cannot be read through NVML: {_nvml_error(exc)}") from None
    return meter


def _nvml_error(exc: Exception) -> str:
    return f"{type(exc).__name__}: {exc}"


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
    """A meter over the readable top-level RAPL package zones and their dram zones where exposed, or None
    (the platform zone `psys`, which already contains the packages, is left out)."""
    zones = sorted(p for p in root.glob("intel-rapl:*") if p.name.count(":") == 1) if root.exists() else []
    readable = [zone for zone in zones if _readable(zone) and _zone_name(zone) != "psys"]  # psys holds the package
    dram = [sub for zone in readable for sub in zone.glob("intel-rapl:*:*") if _zone_name(sub) == "dram"]
    return RaplMeter(zones=readable + [d for d in dram if _readable(d)]) if readable else None


def _readable(zone: Path) -> bool:
    """The zone's counter can be read (since Linux 5.10 energy_uj is often root-only)."""
    try:
        int((zone / "energy_uj").read_text())
    except (OSError, ValueError):
        return False
    return True


def _zone_name(zone: Path) -> str:
    try:
        return (zone / "name").read_text().strip()
    except OSError:
        return ""
