"""A run's report as one self-contained HTML file: headline figures, derived impact, a per-partition chart,
where the energy came from, and target checks. Inline CSS, charts as base64 PNG data URIs, no links or
scripts. Only aggregate figures and ids: never note text."""

from __future__ import annotations

import base64
import math
from html import escape

import pandas as pd

from notewatt.charts import figure_png, partition_energy_chart
from notewatt.energy.vocabulary import MEASURED, SOURCES, EnergyStatus, measured_share_text, status, wh

CSS = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1000px; color: #222; }
h1 { font-size: 1.5em; margin-bottom: 0.2em; } h2 { font-size: 1.15em; margin-top: 1.6em; }
.sub { color: #666; margin-top: 0; }
table { border-collapse: collapse; margin: 0.5em 0; } td, th { padding: 4px 10px; border-bottom: 1px solid #ddd; }
th { text-align: left; background: #f4f4f4; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
.banner { padding: 0.8em 1em; border-radius: 6px; font-size: 1.05em; }
.banner.estimated { background: #fdecea; border: 2px solid #c0392b; }
.banner.measured { background: #eafaf1; border: 2px solid #1e8449; }
.tag { font-size: 0.8em; font-weight: bold; padding: 1px 6px; border-radius: 4px; white-space: nowrap; }
.tag.estimated { background: #c0392b; color: #fff; } .tag.measured { background: #1e8449; color: #fff; }
.tag.derived { background: #7f8c8d; color: #fff; }
.pass { color: #1e8449; font-weight: bold; } .fail { color: #c0392b; font-weight: bold; }
img { max-width: 100%; } .note { color: #555; font-size: 0.9em; }
"""


def _num(value, spec: str = ".4f") -> str:
    """A number formatted, or n/a when missing or not finite."""
    return "n/a" if value is None or not math.isfinite(value) else format(value, spec)


def _tag(text: str, css: str) -> str:
    return f'<span class="tag {css}">{escape(text)}</span>'


def _table(header: tuple[str, ...], rows: list[tuple[str, ...]], numeric: tuple[int, ...] = ()) -> str:
    """An HTML table of already-escaped cells; columns in `numeric` right-aligned."""
    head = "".join(f"<th>{h}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f'<td class="num">{c}</td>' if i in numeric else f"<td>{c}</td>" for i, c in enumerate(row))
        + "</tr>"
        for row in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def _css(energy: EnergyStatus) -> str:
    return "measured" if energy.measured else "estimated"


def _banner(rollup: dict) -> str:
    energy = status(rollup["energy_status"])
    sources = escape(rollup["energy_sources"])
    if energy.measured:
        title = "Measured energy" if energy == MEASURED else "No inference energy"
    else:
        title = f"{energy.label} ENERGY: not a measurement"
    return f'<div class="banner {_css(energy)}"><strong>{title}</strong> (sources: {sources}). {energy.meaning}</div>'


def _headline(rollup: dict) -> str:
    """The run's figures; each energy figure carries its measured/estimated tag."""
    energy = status(rollup["energy_status"])
    tag = _tag(energy.label, _css(energy))
    notes, ok = rollup["notes"], rollup["notes_ok"]
    ok_pct = 100.0 * ok / notes if notes else float("nan")
    rows = [
        ("Notes", f"{notes:,}", f"{ok:,} ok ({_num(ok_pct, '.1f')} %)"),
        ("Energy", f"{_num(rollup['energy_wh'])} Wh", f"{tag} sources: {escape(rollup['energy_sources'])}"),
        ("Measured share", measured_share_text(rollup["measured_share"]),
         f"GPU {_num(rollup['gpu_energy_wh'])} Wh, host {_num(rollup['host_energy_wh'])} Wh"),
        _above_idle(rollup["energy_above_idle_wh"], tag),
        ("Wh per 1,000 notes", _num(rollup["wh_per_1000_notes"], ".3f"), tag),
        _retries(rollup, tag),
        ("Output tokens per J", _num(rollup["output_tokens_per_joule"], ".3f"),
         f"{tag} total tokens per J {_num(rollup['total_tokens_per_joule'], '.3f')}"),
        ("Output tokens per Wh, p50 / p95", f"{_num(rollup['tokens_per_wh_p50'], ',.0f')} / "
         f"{_num(rollup['tokens_per_wh_p95'], ',.0f')}", f"{tag} over partitions"),
        _quality(rollup),
        ("Notes per s", _num(rollup["notes_per_s"], ".3f"),
         f"{_num(rollup['duration_s'], '.1f')} s inference stage, engine loads included"),
        ("Engine loads", f"{_num(rollup['engine_load_wh'])} Wh", f"{tag} not charged to notes"),
        ("Partitions", str(rollup["partitions"]),
         f"{rollup['partial_partitions']} partial, {rollup['shared_device_partitions']} shared a device"),
    ]
    return _table(("figure", "value", ""), rows, numeric=(1,))


def _retries(rollup: dict, tag: str) -> tuple[str, str, str]:
    """Discarded task attempts' energy and the figure with it; not charged to notes."""
    if rollup["retry_energy_j"] is None:
        return "Retried attempts", "unknown", "the energy ledger was incomplete"
    return ("Wh per 1,000 notes incl. retried attempts", _num(rollup["wh_per_1000_notes_incl_retries"], ".3f"),
            f"{tag} {_num(wh(rollup['retry_energy_j']))} Wh in {rollup['retry_windows']} discarded window(s), "
            "not charged to notes")


def _above_idle(wh: float | None, tag: str) -> tuple[str, str, str]:
    if wh is None:
        return "Above idle", "n/a", "needs an idle reading on every partition"
    return "Above idle", f"{_num(wh)} Wh", tag


def _quality(rollup: dict) -> tuple[str, str, str]:
    """F1 and valid-JSON rate against the run's quality reference, or not scored."""
    if rollup.get("f1_overall") is None:
        return "Quality (F1)", "not scored", escape(str(rollup.get("quality_mode") or ""))
    return ("Quality (F1 overall)", _num(rollup["f1_overall"], ".3f"),
            f"valid JSON {_num(rollup['json_valid_rate'], '.3f')}, against {escape(rollup['quality_mode'])}")


def _derived(rollup: dict) -> str:
    """Facility energy, emissions and cost per 1,000 notes with their factors, labelled derived."""
    energy = status(rollup["energy_status"])
    currency = escape(rollup["currency"])
    carbon, price = rollup["carbon_intensity_g_per_kwh"], rollup["price_per_kwh"]
    rows = [
        ("Facility Wh per 1,000 notes", _num(rollup["facility_wh_per_1000_notes"], ".3f"),
         f"PUE {rollup['pue']:g}"),
        ("gCO2e per 1,000 notes", _num(rollup["gco2e_per_1000_notes"], ".3f"),
         "not configured" if carbon is None
         else f"{carbon:g} gCO2e/kWh ({escape(rollup['carbon_intensity_source'] or '')})"),
        ("Cost per 1,000 notes", "n/a" if price is None else f"{_num(rollup['cost_per_1000_notes'], '.5f')} {currency}",
         "not configured" if price is None else f"{price:g} {currency}/kWh"),
    ]
    return (
        f"<p>{_tag('derived', 'derived')} {_tag(energy.label, _css(energy))} Device energy times configured factors, not "
        "measured: these figures inherit the energy's status and add the factors' own uncertainty.</p>"
        + _table(("figure", "value", "factor"), rows, numeric=(1,))
    )


def _png(figure) -> str:
    data = base64.b64encode(figure_png(figure)).decode("ascii")
    return f'<img alt="chart" src="data:image/png;base64,{data}">'


def _partitions(rollup: dict, partitions: pd.DataFrame) -> str:
    """The per-partition chart and table (partition_id, energy_j, output_tokens)."""
    label = status(rollup["energy_status"]).label
    ordered = partitions.sort_values("partition_id")
    chart = _png(partition_energy_chart(ordered, rollup["energy_status"], rollup["energy_sources"]))
    rows = [
        (str(p.partition_id), _num(wh(p.energy_j)), f"{p.output_tokens:,}",
         _num(p.output_tokens / wh(p.energy_j) if p.energy_j else float("nan"), ",.0f"))
        for p in ordered.itertuples()
    ]
    return chart + _table(("partition", f"Wh ({label.lower()})", "output tokens", "output tokens per Wh"),
                          rows, numeric=(1, 2, 3))


def _sources(rollup: dict) -> str:
    """What each energy source of the run means, and what is left out of the notes' energy."""
    meaning = status(rollup["energy_status"]).meaning
    items = "".join(
        f"<li><code>{escape(s)}</code>: {escape(SOURCES.get(s, 'unknown source'))}</li>"
        for s in rollup["energy_sources"].split(",") if s
    )
    return (
        f"<p>{meaning}</p><ul>{items}</ul>"
        '<p class="note">Each partition is one measurement window; a note\'s energy is its token share of its '
        "partition's. Engine loads are windows of their own, not charged to notes. Above-idle energy needs an "
        "idle reading on every partition (the CPU estimate has none). Every window counts its GPUs and its host "
        "(CPU and DRAM: RAPL where readable, else the estimate); the measured share is the part of the joules "
        "read from NVML or RAPL. Method: docs/energy.md.</p>"
    )


def _checks(checks: list | None) -> str:
    """Target checks (objects with name, passed, observed, limit, detail) and the verdict."""
    if not checks:
        return "<p>no targets checked</p>"
    rows = [
        (escape(c.name), '<span class="pass">PASS</span>' if c.passed else '<span class="fail">FAIL</span>',
         _num(c.observed, ".4g"), _num(c.limit, ".4g"), escape(c.detail))
        for c in checks
    ]
    passed = all(c.passed for c in checks)
    verdict = '<span class="pass">PASSED</span>' if passed else '<span class="fail">FAILED</span>'
    table = _table(("check", "result", "observed", "limit", "detail"), rows, numeric=(2, 3))
    return f"{table}<p>targets: {verdict}</p>"


def run_report_html(rollup: dict, partitions: pd.DataFrame, checks: list | None = None) -> str:
    """The report of one run from its run_rollup row (as a dict) and its partition_energy rows
    (partition_id, energy_j, output_tokens); `checks` are target checks (e.g. notewatt.gate.Check)."""
    run_id = escape(rollup["run_id"])
    sections = [
        ("Figures", _headline(rollup)),
        ("Facility, carbon and cost (derived)", _derived(rollup)),
        ("Per partition", _partitions(rollup, partitions)),
        ("Measured or estimated", _sources(rollup)),
        ("Targets", _checks(checks)),
    ]
    body = "".join(f"<h2>{title}</h2>{content}" for title, content in sections)
    return (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>NoteWatt run {run_id}</title>'
        f"<style>{CSS}</style></head><body><h1>NoteWatt run {run_id}</h1>"
        f'<p class="sub">variant {escape(rollup["variant"])} · model {escape(rollup["model"])} · '
        f"started {escape(str(rollup['started_at']))}</p>{_banner(rollup)}{body}</body></html>"
    )
