"""A run's report as one self-contained HTML file: headline figures, derived impact, a per-partition chart,
where the energy came from, and target checks. The layout is the template templates/run_report.html (Jinja2,
autoescaped); this module only prepares its figures. Inline CSS, charts as base64 PNG data URIs, no links or
scripts. Only aggregate figures and ids: never note text."""

from __future__ import annotations

import base64
import math
from dataclasses import dataclass
from pathlib import Path

import jinja2
import pandas as pd

from udfs.energy.vocabulary import (
    MEASURED, SOURCES, EnergyStatus, engine_loads_text, measured_share_text, retried_attempts_text, status, wh,
)
from notewatt.reporting.charts import figure_png, partition_energy_chart
from notewatt.stages import STAGE_COLUMNS, STAGES

TEMPLATES = jinja2.Environment(
    loader=jinja2.FileSystemLoader(Path(__file__).with_name("templates")),
    autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
)


@dataclass(frozen=True)
class Figure:
    name: str
    value: str
    note: str = ""
    status: EnergyStatus | None = None  # the energy status tag the figure carries (MEASURED, ESTIMATED, ...)


def _num(value, spec: str = ".4f") -> str:
    """A number formatted, or n/a when missing or not finite."""
    return "n/a" if value is None or not math.isfinite(value) else format(value, spec)


def _banner_title(energy: EnergyStatus) -> str:
    if not energy.measured:
        return f"{energy.label} ENERGY: not a measurement"
    return "Measured energy" if energy == MEASURED else "No inference energy"


def _figures(rollup: dict) -> list[Figure]:
    """The run's headline figures; the energy figures carry their status tag (the engine loads' their own)."""
    notes, ok = rollup["notes"], rollup["notes_ok"]
    energy = status(rollup["energy_status"])
    above_idle = rollup["energy_above_idle_wh"]
    return [
        Figure("Notes", f"{notes:,}", f"{ok:,} ok ({_num(100.0 * ok / notes if notes else None, '.1f')} %)"),
        Figure("Energy", f"{_num(rollup['energy_wh'])} Wh", _sources_note(rollup), status=energy),
        Figure("Measured share", measured_share_text(rollup["measured_share"]),
               f"GPU {_num(rollup['gpu_energy_wh'])} Wh, host {_num(rollup['host_energy_wh'])} Wh"),
        Figure("Above idle", "n/a", "needs an idle reading on every partition") if above_idle is None
        else Figure("Above idle", f"{_num(above_idle)} Wh", status=energy),
        Figure("Wh per 1,000 notes", _num(rollup["wh_per_1000_notes"], ".3f"), status=energy),
        Figure("Wh per 1,000 notes, all in", _num(rollup["wh_per_1000_notes_all_in"], ".3f"), ALL_IN, status=energy),
        _retries(rollup, energy),
        Figure("Output tokens per J", _num(rollup["output_tokens_per_joule"], ".3f"),
               f"total tokens per J {_num(rollup['total_tokens_per_joule'], '.3f')}", status=energy),
        Figure("Output tokens per Wh, p5 / p50 / p95",
               f"{_num(rollup['tokens_per_wh_p5'], ',.0f')} / {_num(rollup['tokens_per_wh_p50'], ',.0f')} / "
               f"{_num(rollup['tokens_per_wh_p95'], ',.0f')}", "over partitions", status=energy),
        _quality(rollup),
        *_cascade(rollup),
        Figure("Notes per s", _num(rollup["notes_per_s"], ".3f"),
               f"{_num(rollup['duration_s'], '.1f')} s inference stage, engine loads included"),
        Figure("Engine loads", engine_loads_text(rollup), "not charged to notes",
               status=_status_or_none(rollup.get("engine_load_status"))),
        *_preprocess(rollup),
        Figure("Partitions", str(rollup["partitions"]),
               f"{rollup['partial_partitions']} partial, {rollup['shared_device_partitions']} shared a device"),
    ]


ALL_IN = "with the engine loads, the Spark NLP stage and discarded attempts: everything the run spent"


def _sources_note(rollup: dict) -> str:
    reason = rollup.get("energy_status_reason")
    return f"sources: {rollup['energy_sources']}" + (f"; not all there: {reason}" if reason else "")


def _status_or_none(name: str | None) -> EnergyStatus | None:
    return status(name) if name else None


def _retries(rollup: dict, energy: EnergyStatus) -> Figure:
    """Discarded task attempts' energy (with their own status) and the figure with it; not charged to notes."""
    if rollup["retry_energy_j"] is None:
        return Figure("Retried attempts", "unknown", "the energy ledger was incomplete")
    return Figure("Wh per 1,000 notes incl. retried attempts", _num(rollup["wh_per_1000_notes_incl_retries"], ".3f"),
                  f"{retried_attempts_text(rollup)}; not charged to notes", status=energy)


def _preprocess(rollup: dict) -> list[Figure]:
    """The Spark NLP stage's estimated energy (Spark's executor CPU time x watts per core), where it ran."""
    if rollup.get("preprocess_s") is None:
        return []
    energy = rollup["preprocess_energy_j"]
    return [Figure("Spark NLP stage", "unknown" if energy is None else f"{_num(wh(energy))} Wh",
                   f"ESTIMATED from Spark's executor CPU time; {_num(rollup['preprocess_s'], '.1f')} s; not charged to notes")]


def _quality(rollup: dict) -> Figure:
    """F1 and valid-JSON rate against the run's quality reference, or not scored."""
    if rollup.get("f1_overall") is None:
        return Figure("Quality (F1)", "not scored", str(rollup.get("quality_mode") or ""))
    return Figure("Quality (F1 overall)", _num(rollup["f1_overall"], ".3f"),
                  f"valid JSON {_num(rollup['json_valid_rate'], '.3f')}, against {rollup['quality_mode']}; "
                  f"{_num(rollup.get('wh_per_1000_correct_items'), '.3f')} Wh per 1,000 correct items "
                  f"({rollup.get('correct_items')} correct)")


def _cascade(rollup: dict) -> list[Figure]:
    """A cascade's split: the notes the small tier kept and those escalated to the large one (route_rollup has
    each tier's energy)."""
    if rollup.get("routing_mode") != "cascade":
        return []
    escalated, notes = rollup["escalated_notes"], rollup["notes"]
    return [Figure("Cascade", f"{escalated:,} of {notes:,} notes escalated",
                   f"{_num(100 * (rollup['escalation_rate'] or 0), '.1f')} % to {rollup['variant']}; an escalated "
                   "note's energy is both passes'")]


def _derived(rollup: dict) -> list[Figure]:
    """Facility energy, emissions and cost per 1,000 notes with their factors."""
    currency, carbon, price = rollup["currency"], rollup["carbon_intensity_g_per_kwh"], rollup["price_per_kwh"]
    return [
        Figure("Facility Wh per 1,000 notes", _num(rollup["facility_wh_per_1000_notes"], ".3f"), f"PUE {rollup['pue']:g}"),
        Figure("gCO2e per 1,000 notes", _num(rollup["gco2e_per_1000_notes"], ".3f"),
               "not configured" if carbon is None else f"{carbon:g} gCO2e/kWh ({rollup['carbon_intensity_source'] or ''})"),
        Figure("Cost per 1,000 notes",
               "n/a" if price is None else f"{_num(rollup['cost_per_1000_notes'], '.5f')} {currency}",
               "not configured" if price is None else f"{price:g} {currency}/kWh"),
    ]


def _stages(rollup: dict) -> list[Figure]:
    """Where the run's time went (the stages run_rollup records; MLflow's own comes after the report)."""
    return [Figure(name.replace("_", " "), _num(rollup.get(column), ".1f"), STAGES[name])
            for column, name in STAGE_COLUMNS.items() if rollup.get(column) is not None]


def _partitions(partitions: pd.DataFrame) -> list[dict]:
    return [
        {"partition_id": p.partition_id, "wh": _num(wh(p.energy_j)), "output_tokens": f"{p.output_tokens:,}",
         "tokens_per_wh": _num(p.output_tokens / wh(p.energy_j) if p.energy_j else None, ",.0f")}
        for p in partitions.itertuples()
    ]


def _check(check) -> dict:
    return {"name": check.name, "passed": check.passed, "observed": _num(check.observed, ".4g"),
            "limit": _num(check.limit, ".4g"), "detail": check.detail}


def run_report_html(rollup: dict, partitions: pd.DataFrame, checks: list | None = None,
                    chart: bytes | None = None) -> str:
    """The report of one run from its run_rollup row (as a dict) and its partition_energy rows
    (partition_id, energy_j, output_tokens); `checks` are target checks (notewatt/gate/checks.Check); `chart`
    the partition chart's PNG where it was drawn already."""
    energy = status(rollup["energy_status"])
    ordered = partitions.sort_values("partition_id")
    chart = chart or figure_png(partition_energy_chart(ordered, rollup["energy_status"], rollup["energy_sources"]))
    return TEMPLATES.get_template("run_report.html").render(
        rollup=rollup, energy=energy, energy_css="measured" if energy.measured else "estimated",
        banner_title=_banner_title(energy), figures=_figures(rollup), derived=_derived(rollup), stages=_stages(rollup),
        partition_chart=base64.b64encode(chart).decode("ascii"), partitions=_partitions(ordered),
        sources=[(s, SOURCES.get(s, "unknown source")) for s in rollup["energy_sources"].split(",") if s],
        checks=[_check(c) for c in checks or []], passed=all(c.passed for c in checks or []),
    )
