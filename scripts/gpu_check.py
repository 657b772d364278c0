"""GPU energy check: does NoteWatt's NVML path agree with itself and with nvidia-smi?

Runs a steady PyTorch matmul load on one GPU in several windows (>= 30 s each) and, for each window,
compares the energy from NVML's total-energy counter (what NoteWatt reports) with the trapezoid
integral of NVML power samples and with nvidia-smi's power readings taken over the same window.
It also reports how often very short windows see a counter that did not tick, the idle power, the
sampler thread's CPU cost, and two overlapping windows on the one GPU (as tasks sharing a GPU have):
their naive sum against the device counter, and after NoteWatt's apportioning. Then what a task meters in
Spark local mode (no GPU addresses: CUDA_VISIBLE_DEVICES, else every NVML device), whether RAPL is
readable and what the host part of a window is (RAPL or the labelled estimate), and the NVML-error path
(a GPU that cannot be read, with energy.require_measured true and false). Needs only PyTorch and
nvidia-ml-py (no Spark, Java or vLLM).

    python scripts/gpu_check.py [--gpu 0] [--windows 3] [--seconds 30] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.sampler_overhead import summarise, window_overhead  # noqa: E402
from udfs.energy.monitor import EnergyMonitor, Measurement, idle_power_w, trapezoid_energy_j  # noqa: E402
from udfs.energy.meters import GPU, HOST, GpuMeteringError, MeteringError, gpu_meters, rapl_meter, task_meters  # noqa: E402
from udfs.energy.shared_devices import DeviceWindow, apportion  # noqa: E402


def steady_load(seconds: float, device: str) -> int:
    """bf16 matmuls back to back for `seconds`; returns how many ran."""
    import torch

    a = torch.randn(8192, 8192, device=device, dtype=torch.bfloat16)
    b = torch.randn(8192, 8192, device=device, dtype=torch.bfloat16)
    done, deadline = 0, time.monotonic() + seconds
    while time.monotonic() < deadline:
        for _ in range(10):
            a @ b
        torch.cuda.synchronize(device)
        done += 10
    return done


def smi_reader(gpu: int) -> subprocess.Popen | None:
    """nvidia-smi printing power draw every 100 ms, or None where nvidia-smi is absent."""
    if not shutil.which("nvidia-smi"):
        return None
    cmd = ["nvidia-smi", "-i", str(gpu), "--query-gpu=timestamp,power.draw", "--format=csv,noheader,nounits", "-lms", "100"]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)


def smi_energy_j(proc: subprocess.Popen | None, duration_s: float) -> float | None:
    """Mean of nvidia-smi's readings x window duration."""
    if proc is None:
        return None
    proc.terminate()
    readings = []
    for line in proc.communicate()[0].splitlines():
        try:
            readings.append(float(line.split(",")[-1]))
        except ValueError:
            continue
    return sum(readings) / len(readings) * duration_s if readings else None


def measure_window(monitor: EnergyMonitor, gpu: int, seconds: float, device: str) -> dict:
    smi = smi_reader(gpu)
    window = monitor.begin()
    steady_load(seconds, device)
    m = monitor.end(window)
    power = [(s.t, s.power_w) for s in window.samples[0] if s.power_w is not None]
    integrated = trapezoid_energy_j(power)
    smi_j = smi_energy_j(smi, m.duration_s)
    return {
        "duration_s": round(m.duration_s, 2),
        "counter_j": round(m.energy_j, 1),
        "source": m.energy_source,
        "power_integrated_j": round(integrated, 1),
        "counter_vs_integrated_pct": round(100 * (integrated - m.energy_j) / m.energy_j, 2),
        "nvidia_smi_j": None if smi_j is None else round(smi_j, 1),
        "counter_vs_smi_pct": None if smi_j is None else round(100 * (smi_j - m.energy_j) / m.energy_j, 2),
        "avg_power_w": round(m.avg_power_w, 1),
        "peak_power_w": m.peak_power_w,
        "samples": m.samples,
    }


def short_windows(monitor_meters, count: int = 20, seconds: float = 0.05) -> dict:
    """How many very short windows saw the energy counter not move (and fell back to power samples)."""
    monitor = EnergyMonitor(monitor_meters, sample_interval_s=0.01)
    sources = []
    for _ in range(count):
        window = monitor.begin()
        time.sleep(seconds)
        sources.append(monitor.end(window).energy_source)
    return {"windows": count, "seconds": seconds, "counter_did_not_tick": sources.count("nvml_power")}


def shared_windows(meters, idle: list, seconds: float, device: str) -> dict:
    """Windows A and B overlap for a third of their span on one GPU, as two tasks sharing it would.
    Each reads the whole device, so their naive sum counts the overlap twice; apportioned (by equal
    token rates here) they should add up to the device counter from A's start to B's end, exactly when
    the counter edges are used, approximately from mean power alone."""
    third = seconds / 3
    a_monitor, b_monitor = EnergyMonitor(meters, 0.1, idle), EnergyMonitor(meters, 0.1, idle)
    a_window = a_monitor.begin()
    steady_load(third, device)
    b_window = b_monitor.begin()
    steady_load(third, device)
    a = a_monitor.end(a_window)
    steady_load(third, device)
    b = b_monitor.end(b_window)
    device_j = first_device(b).counter_end_j - first_device(a).counter_start_j
    with_counter = sum(r.energy_j for r in apportion([_device_window(a), _device_window(b)]))
    power_only = sum(r.energy_j for r in apportion([_device_window(a, False), _device_window(b, False)]))
    pct = lambda x: round(100 * (x - device_j) / device_j, 2)  # noqa: E731
    return {
        "device_counter_j": round(device_j, 1),
        "naive_sum_j": round(a.energy_j + b.energy_j, 1), "naive_vs_device_pct": pct(a.energy_j + b.energy_j),
        "apportioned_j": round(with_counter, 1), "apportioned_vs_device_pct": pct(with_counter),
        "power_only_apportioned_j": round(power_only, 1), "power_only_vs_device_pct": pct(power_only),
    }


def first_device(m: Measurement):
    return next(iter(m.devices.values()))


def _device_window(m: Measurement, counter: bool = True) -> DeviceWindow:
    d = first_device(m)
    edges = (d.counter_start_j, d.counter_end_j) if counter else (None, None)
    return DeviceWindow(m.start_ts, m.end_ts, d.energy_j, 1000, d.idle_power_w, *edges)


def local_mode_selection() -> dict:
    """What a task with no Spark GPU addresses (local mode) meters, without and with CUDA_VISIBLE_DEVICES=0,
    against the devices PyTorch sees."""
    import torch

    seen = {}
    for visible in (None, "0"):
        environ = {} if visible is None else {"CUDA_VISIBLE_DEVICES": visible}
        metered = task_meters((), False, 10.0, 0.375, environ=environ)
        seen[f"CUDA_VISIBLE_DEVICES={visible}"] = [f"{m.component}:{m.device}" for m in metered.meters]
    return {"torch_devices": torch.cuda.device_count(), "metered": seen}


def host_energy(seconds: float, device: str) -> dict:
    """A local-mode window (every GPU and the host) over the GPU load: GPU and host joules, and the host's source."""
    metered = task_meters((), False, 10.0, 0.375)
    monitor = EnergyMonitor(metered.meters, 0.1)
    window = monitor.begin()
    steady_load(seconds, device)
    m = monitor.end(window)
    part = lambda component: sum(d.energy_j for d in m.devices.values() if d.component == component)  # noqa: E731
    host = next(d for d in m.devices.values() if d.component == HOST)
    return {"rapl_readable": rapl_meter() is not None, "duration_s": round(m.duration_s, 2),
            "gpu_j": round(part(GPU), 1), "host_j": round(part(HOST), 1), "host_source": host.energy_source,
            "sources": m.energy_source, "partial_reason": m.partial_reason}


def nvml_error_path() -> dict:
    """A GPU NVML cannot find: the one-line MeteringError when measurement is required, else a labelled window."""
    bogus = ["GPU-00000000-0000-0000-0000-000000000000"]
    try:
        task_meters(bogus, True, 10.0)
        required = "no error raised"
    except MeteringError as exc:
        required = str(exc)
    metered = task_meters(bogus, False, 10.0)
    m = EnergyMonitor(metered.meters, 0.0, unmetered=metered.unmetered)
    measured = m.end(m.begin())
    return {"require_measured_true": required, "require_measured_false_sources": measured.energy_source,
            "require_measured_false_partial_reason": measured.partial_reason}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gpu", type=int, default=0)
    parser.add_argument("--windows", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    import torch

    try:
        meters = gpu_meters([str(args.gpu)], None)
    except GpuMeteringError as exc:
        raise SystemExit(f"this check needs an NVIDIA GPU and driver: {exc}") from None
    device = f"cuda:{args.gpu}"
    idle = [idle_power_w(meter) for meter in meters]
    steady_load(5, device)  # warm up clocks and kernels outside the windows
    monitor = EnergyMonitor(meters, sample_interval_s=0.1, idle_power_w=idle)
    windows = [measure_window(monitor, args.gpu, args.seconds, device) for _ in range(args.windows)]
    report = {
        "gpu": meters[0].device_name,
        "uuid": meters[0].device,
        "torch": torch.__version__,
        "date": time.strftime("%Y-%m-%d"),
        "idle_power_w": idle[0],
        "windows": windows,
        "short_windows": short_windows(meters),
        "shared_windows": shared_windows(meters, idle, args.seconds, device),
        "sampler_overhead": summarise([window_overhead(meters, 5.0, 0.1) for _ in range(3)]),
        "local_mode_selection": local_mode_selection(),
        "host_energy": host_energy(min(args.seconds, 10.0), device),
        "nvml_error_path": nvml_error_path(),
    }
    print(f"{report['gpu']} ({report['uuid']}), idle {idle[0]:.1f} W, torch {report['torch']}")
    header = ["duration_s", "counter_j", "power_integrated_j", "counter_vs_integrated_pct", "nvidia_smi_j",
              "counter_vs_smi_pct", "avg_power_w", "peak_power_w", "samples"]
    print(" | ".join(header))
    for w in windows:
        print(" | ".join(str(w[h]) for h in header))
    print("short windows:", report["short_windows"])
    print("shared windows:", report["shared_windows"])
    print("sampler overhead:", report["sampler_overhead"])
    for key in ("local_mode_selection", "host_energy", "nvml_error_path"):
        print(f"{key.replace('_', ' ')}:", report[key])
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
