"""The energy vocabulary, in one place: where a figure came from (energy sources), how a run's energy is
labelled (energy statuses), and the unit arithmetic (joules per Wh, Wh per 1,000 notes). The console
summary, the HTML report, the charts, the notebook's frames, the roll-up and the gate all use it.

The source names are defined where the executors produce them (udfs/energy/meters.py); their meanings are here.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from udfs.energy.meters import ESTIMATE, NO_READING, NVML_COUNTER, NVML_POWER, RAPL, UNMETERED

J_PER_WH = 3600.0
REUSED = "reused (no inference)"  # energy_source of a note whose output was reused: 0 inference joules

SOURCES = {  # energy_source -> what it means
    NVML_COUNTER: "measured: delta of the NVIDIA NVML energy counter on the GPUs the task's engine used",
    NVML_POWER: "measured: NVML power samples integrated over the window (short windows where the counter "
                "did not move)",
    RAPL: "measured: RAPL package and DRAM energy counters of the host's CPUs",
    ESTIMATE: "ESTIMATED: CPU time of the worker process and its children x energy.cpu_watts_per_core, plus its "
              "resident memory x energy.dram_watts_per_gib over time; a rule of thumb (±50 % or worse against a "
              "wall meter) that ranks variants on one machine but is no absolute figure",
    UNMETERED: "NOT MEASURED: a device the work used could not be read (an NVML error, or a counter that did not "
               "advance with no power samples); its energy is missing, and partial_reason says which and why",
    NO_READING: "NOT READ: the window had just opened when this was written (a ledger entry of a task killed before "
                "its first heartbeat); its energy is unknown",
    REUSED: "no inference: the note's output was reused (output cache or a repeat in the run)",
}


@dataclass(frozen=True)
class EnergyStatus:
    """How a run's (or a route's) energy is labelled everywhere it is shown."""

    name: str  # the energy_status value in run_rollup and route_rollup
    label: str  # in capitals on reports and charts
    measured: bool  # every joule measured (or none spent): shown plain; otherwise marked as an estimate
    color: str  # matplotlib colour of its points and bars
    meaning: str  # one sentence for the report
    console: str  # the console summary's wording


MEASURED = EnergyStatus(
    "measured", "MEASURED", True, "tab:green",
    "Every joule was read from a hardware counter or power sensor (NVML, RAPL).",
    "measured",
)
PARTLY_ESTIMATED = EnergyStatus(
    "partly_estimated", "PARTLY ESTIMATED", False, "tab:orange",
    "Part of the energy is an estimate (see the measured share): typically the host's CPU and DRAM where RAPL "
    "is not readable, beside measured GPUs, or partitions without NVML or RAPL. The energy figures are not "
    "measurements.",
    "PARTLY ESTIMATED (see measured share: e.g. the host's CPU+DRAM where RAPL is not readable)",
)
ESTIMATED = EnergyStatus(
    "estimated", "ESTIMATED", False, "tab:red",
    "No partition had an NVML or RAPL reading: every energy figure is an estimate, not a measurement.",
    "ESTIMATED (no NVML/RAPL: CPU time x watts per core + memory x watts per GiB)",
)
INCOMPLETE = EnergyStatus(
    "incomplete", "INCOMPLETE", False, "tab:purple",
    "Some windows' energy is not all there (energy_status_reason says why): a device the work used could not be "
    "read, a meter failed mid-window, a fallback left a term out, or the ledger lacks a window. The figures are "
    "lower bounds, whatever share of them was measured.",
    "INCOMPLETE (some windows' energy is not all there: see energy_status_reason; a lower bound)",
)
NO_INFERENCE = EnergyStatus(
    "no_inference", "NO INFERENCE", True, "tab:gray",
    "Every note's output was reused (output cache): the run generated nothing and spent no inference energy.",
    "none spent on inference: every note was reused",
)
STATUSES = {s.name: s for s in (MEASURED, PARTLY_ESTIMATED, ESTIMATED, INCOMPLETE, NO_INFERENCE)}


def status(name: str) -> EnergyStatus:
    return STATUSES[name]


def status_of(window_sources: list[Iterable[str]], incomplete: bool = False) -> EnergyStatus:
    """The status of energy read by windows with these sources (each window's, from its Measurement): incomplete when
    a window could not read a device (or had read none yet), when one was partial or missing (`incomplete`); else
    measured when no window's include an estimate, estimated when every window's are only estimates, partly
    estimated in between; no inference without a window."""
    sources = [set(s) for s in window_sources]
    if incomplete or any(s & {UNMETERED, NO_READING} for s in sources):
        return INCOMPLETE
    if not sources:
        return NO_INFERENCE
    if not any(ESTIMATE in s for s in sources):
        return MEASURED
    return ESTIMATED if all(s == {ESTIMATE} for s in sources) else PARTLY_ESTIMATED


def wh(energy_j):
    """Joules to watt-hours (numbers, pandas and Spark columns alike)."""
    return energy_j / J_PER_WH


def wh_per_1000_notes(energy_j, notes):
    """The headline figure: Wh per 1,000 notes (numbers, pandas and Spark columns alike)."""
    return wh(energy_j) / notes * 1000


def measured_share_text(share: float | None) -> str:
    """`0.850`, `1.000 (all measured)`, `0.000 (all estimated)`, or n/a."""
    if share is None:
        return "n/a (no energy spent)"
    suffix = " (all measured)" if share == 1 else " (all estimated)" if share == 0 else ""
    return f"{share:.3f}{suffix}"


def retried_attempts_text(rollup: dict) -> str:
    """The discarded attempts' energy in words, with its status and whether it is a lower bound; assumes the
    ledger was complete (retry_energy_j known)."""
    label = f", {status(rollup['retry_energy_status']).label}" if rollup.get("retry_energy_status") else ""
    unfinished = rollup.get("retry_unfinished_windows") or 0
    bound = (f"; {unfinished} killed before closing, counted to their last heartbeat: a lower bound"
             if unfinished else "")
    return f"{wh(rollup['retry_energy_j']):.4f} Wh in {rollup['retry_windows']} discarded window(s){label}{bound}"


def engine_loads_text(rollup: dict) -> str:
    """The engine loads' energy in words: unknown, or with the warm-ups no partition reported and whether it is
    a lower bound (a warm-up still importing when the run read its ledger)."""
    if rollup["engine_load_wh"] is None:
        return "unknown (the energy ledger was incomplete)"
    unreported = rollup.get("unreported_warm_ups") or 0
    unfinished = rollup.get("engine_load_unfinished_windows") or 0
    detail = [f"{unreported} warm-up(s) of workers that ran no partition"] if unreported else []
    if unfinished:
        detail.append(f"{unfinished} still importing, counted to its last heartbeat: a lower bound")
    return f"{rollup['engine_load_wh']:.4f} Wh" + (f" (incl. {'; '.join(detail)})" if detail else "")
