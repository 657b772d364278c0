"""Sampler overhead: what an energy window costs the task it measures.

For each repeat, opens a window with the sampler thread at `--interval` (default 10 Hz) around a sleep
of `--seconds` and reports the process CPU time per second of window (the sampler thread is the only
thing running, so this is its cost, in % of one core), and the latency of opening and closing the
window. Prints medians and spread over `--repeats` and writes JSON. Uses the meters this machine has
(NVML on a GPU host, else RAPL, else the CPU-time estimate), or `--meter fake` for a zero-cost meter
that isolates the thread's own overhead.

    python bench/sampler_overhead.py [--seconds 10] [--repeats 5] [--interval 0.1] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from udfs.energy.monitor import EnergyMonitor  # noqa: E402
from udfs.energy.meters import Meter, task_meters  # noqa: E402


class ConstantMeter:
    """A meter that costs (almost) nothing to read: isolates the sampler thread's own overhead."""

    device, device_name, component, scope, shared_counter = "fake", "constant 100 W", "gpu", "device", False
    counter_source = power_source = "fake"

    def energy_j(self) -> float | None:
        return None

    def power_w(self) -> float | None:
        return 100.0


def window_overhead(meters: list[Meter], seconds: float, interval_s: float) -> dict:
    """One window around an idle sleep: sampler CPU % of one core, open and close latency in ms."""
    monitor = EnergyMonitor(meters, sample_interval_s=interval_s)
    cpu0, t0 = time.process_time(), time.perf_counter()
    window = monitor.begin()
    opened = time.perf_counter() - t0
    time.sleep(seconds)
    t1 = time.perf_counter()
    measurement = monitor.end(window)
    closed = time.perf_counter() - t1
    return {
        "cpu_pct_of_one_core": 100 * (time.process_time() - cpu0) / measurement.duration_s,
        "open_ms": opened * 1000,
        "close_ms": closed * 1000,
        "samples": measurement.samples,
    }


def summarise(runs: list[dict]) -> dict:
    """Median, min and max of each figure over the repeats."""
    return {
        key: {"median": statistics.median(r[key] for r in runs), "min": min(r[key] for r in runs),
              "max": max(r[key] for r in runs)}
        for key in runs[0]
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--interval", type=float, default=0.1)
    parser.add_argument("--meter", choices=["auto", "fake"], default="auto")
    parser.add_argument("--gpu", action="append", default=[], help="GPU index to meter (repeatable)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    meters = [ConstantMeter()] if args.meter == "fake" else task_meters(args.gpu, False, watts_per_core=10.0).meters
    runs = [window_overhead(meters, args.seconds, args.interval) for _ in range(args.repeats)]
    report = {
        "date": time.strftime("%Y-%m-%d"),
        "meters": [m.device_name for m in meters],
        "interval_s": args.interval,
        "seconds": args.seconds,
        "repeats": args.repeats,
        "summary": summarise(runs),
        "runs": runs,
    }
    print(f"sampler at {1 / args.interval:g} Hz on {', '.join(report['meters'])}, {args.repeats} x {args.seconds:g} s")
    print("figure | median | min | max")
    for key, s in report["summary"].items():
        print(f"{key} | {s['median']:.3f} | {s['min']:.3f} | {s['max']:.3f}")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
