"""The human summary printed at the end of a job."""

from __future__ import annotations

from udfs.energy.vocabulary import engine_loads_text, measured_share_text, retried_attempts_text, status, wh
from notewatt.stages import STAGES
from notewatt.tracking.run_log import TrackedRun


def _num(value: float | None, fmt: str = ".3f") -> str:
    return "n/a" if value is None else format(value, fmt)


def _reuse(rollup: dict) -> str:
    """Output reuse and vLLM's prefix cache in one line; avoided energy is an estimate at the run's J/token."""
    return (f"  reused outputs         {rollup['notes_reused']} notes ({_num(100 * rollup['cache_hit_rate'], '.1f')} %), "
            f"~{_num(rollup['energy_avoided_wh'], '.4f')} Wh avoided (estimated); "
            f"prefix cache {_num(100 * (rollup['prefix_cache_hit_rate'] or 0), '.1f')} % of prompt tokens")


def _derived(rollup: dict) -> list[str]:
    """Facility, carbon and cost lines: configured factors applied to the energy above, so labelled derived."""
    lines = [f"  facility Wh / 1,000    {rollup['facility_wh_per_1000_notes']:.3f}  (derived: PUE {rollup['pue']:g})"]
    if rollup["gco2e_per_1000_notes"] is not None:
        lines.append(f"  gCO2e / 1,000 notes    {rollup['gco2e_per_1000_notes']:.3f}  (derived: "
                     f"{rollup['carbon_intensity_g_per_kwh']:g} g/kWh, {rollup['carbon_intensity_source']})")
    if rollup["cost_per_1000_notes"] is not None:
        lines.append(f"  cost / 1,000 notes     {rollup['cost_per_1000_notes']:.5f} {rollup['currency']}  "
                     f"(derived: {rollup['price_per_kwh']:g} per kWh)")
    return lines


def _quality(rollup: dict) -> str:
    if rollup["f1_overall"] is None:
        return f"  quality                not scored ({rollup['quality_mode']})"
    return (f"  quality                F1 {rollup['f1_overall']:.3f}, valid JSON {rollup['json_valid_rate']:.3f}"
            f"  (against {rollup['quality_mode']}); {_num(rollup.get('wh_per_1000_correct_items'))} Wh per 1,000 "
            f"correct items ({rollup.get('correct_items')} correct)")


def _routes(rollup: dict, routes: list[dict]) -> list[str]:
    """Each route's share of the run where it had two (a cascade: the notes each tier abstracted, escalations)."""
    if len(routes) < 2:
        return []
    lines = [f"  routing                {rollup['routing_mode']}: {rollup['escalated_notes']} of {rollup['notes']} notes "
             f"escalated ({_num(100 * (rollup['escalation_rate'] or 0), '.1f')} %)"
             if rollup.get("routing_mode") == "cascade" else f"  routing                {rollup.get('routing_mode')}"]
    return lines + [f"    {r['variant']:<20} {r['notes']} notes, {_num(r['wh_per_1000_notes'])} Wh / 1,000, F1 "
                    f"{_num(r['f1_overall'])}" for r in routes]


def _retries(rollup: dict) -> str:
    """Energy of discarded task attempts (failed, killed, speculative losers): not charged to notes."""
    if rollup["retry_energy_j"] is None:
        return "  retried attempts       unknown (the energy ledger was incomplete; see the job's warnings)"
    return (f"  retried attempts       {retried_attempts_text(rollup)}; not charged to notes; Wh / 1,000 incl. "
            f"them {_num(rollup['wh_per_1000_notes_incl_retries'])}")


def _load_label(rollup: dict) -> str:
    """The engine loads' own energy status, where there were loads."""
    name = rollup.get("engine_load_status")
    return f" {status(name).label}" if name else ""


def _preprocess(rollup: dict) -> list[str]:
    """The Spark NLP stage's cost, where the run had one: its energy is an estimate from Spark's task metrics."""
    if rollup["preprocess_s"] is None:
        return []
    energy = rollup["preprocess_energy_j"]
    estimate = "unknown (no Spark UI)" if energy is None else f"~{wh(energy):.4f} Wh (ESTIMATED: executor CPU time x watts per core; no memory term)"
    return [f"  Spark NLP stage        {rollup['preprocess_s']:.1f} s, {estimate}, not charged to notes"]


def stage_lines(seconds: dict[str, float], rollup: dict) -> list[str]:
    """Where the run's time went, stage by stage, with the inference stage's windows and engine loads."""
    alongside = max(seconds.get("mlflow", 0.0) - seconds.get("writes", 0.0), 0.0)  # MLflow logs while the tables are written
    total = sum(v for k, v in seconds.items() if k not in ("quality", "mlflow")) + alongside  # quality: part of tables
    lines = [f"  where the time went    {total:.1f} s in all"]
    for name in (n for n in STAGES if n in seconds):
        detail = ""
        if name == "inference" and rollup.get("inference_s") is not None:
            detail = (f"  (windows {rollup['inference_s']:.1f} s; the longest engine load "
                      f"{rollup['engine_load_s'] or 0:.1f} s)")
        lines.append(f"    {name:<20} {seconds[name]:7.1f} s{detail}")
    return lines


def summary_text(rollup: dict, tables: dict[str, str], tracked: TrackedRun, seconds: dict[str, float],
                 routes: list[dict] = ()) -> str:
    kind = status(rollup["energy_status"]).console
    ok_pct = 100.0 * rollup["notes_ok"] / rollup["notes"] if rollup["notes"] else 0.0
    above_idle = rollup["energy_above_idle_wh"]
    lines = [
        f"NoteWatt run {rollup['run_id']}  variant {rollup['variant']}  ({rollup['model']}, "
        f"{rollup['dtype'] or 'no inference'})",
        f"  notes                  {rollup['notes']}  ({rollup['notes_ok']} ok, {ok_pct:.1f} %); "
        f"{rollup['notes_in']} read, {rollup['notes_quarantined']} quarantined"
        + (f"; {rollup['notes_resumed']} committed by earlier attempts (resumed)" if rollup.get("notes_resumed") else ""),
        f"  energy                 {rollup['energy_wh']:.4f} Wh  [{rollup['energy_sources']}: {kind}]",
        f"  measured share         {measured_share_text(rollup['measured_share'])}  "
        f"(GPU {rollup['gpu_energy_wh']:.4f} Wh, host {rollup['host_energy_wh']:.4f} Wh)",
        "  above idle             " + (f"{above_idle:.4f} Wh" if above_idle is not None else "n/a (no idle reading)"),
        f"  Wh per 1,000 notes     {rollup['wh_per_1000_notes']:.3f}",
        f"  Wh / 1,000 all in      {_num(rollup['wh_per_1000_notes_all_in'])}  (with the engine loads, the Spark NLP "
        "stage and discarded attempts" + ("; n/a: one of them is unknown)" if rollup["wh_per_1000_notes_all_in"] is None
                                           else ")"),
        *([f"  not all there          {rollup['energy_status_reason']}"] if rollup.get("energy_status_reason") else []),
        _retries(rollup),
        *_derived(rollup),
        _quality(rollup),
        *_routes(rollup, list(routes)),
        _reuse(rollup),
        f"  output tokens / J      {_num(rollup['output_tokens_per_joule'])}",
        f"  total tokens / J       {_num(rollup['total_tokens_per_joule'])}",
        f"  notes / s              {rollup['notes_per_s']:.3f}  ({rollup['duration_s']:.1f} s; "
        f"engine loads {engine_loads_text(rollup)}{_load_label(rollup)}, not charged to notes)",
        *_preprocess(rollup),
        *stage_lines(seconds, rollup),
        "  Delta tables:",
        *[f"    {name:<18} {location}" for name, location in tables.items()],
        f"  MLflow run {tracked.run_id} (experiment {tracked.experiment_id}) at {tracked.tracking_uri}",
    ]
    return "\n".join(lines)


def print_summary(rollup: dict, tables: dict[str, str], tracked: TrackedRun, seconds: dict[str, float],
                  routes: list[dict] = ()) -> None:
    print(summary_text(rollup, tables, tracked, seconds, routes), flush=True)
