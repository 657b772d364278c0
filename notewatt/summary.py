"""The human summary printed at the end of a job."""

from __future__ import annotations

from notewatt.tracking import TrackedRun


def summary_text(rollup: dict, tables: dict[str, str], tracked: TrackedRun) -> str:
    kind = "measured" if rollup["energy_measured"] else "ESTIMATED (no NVML/RAPL: CPU time x configured watts per core)"
    ok_pct = 100.0 * rollup["notes_ok"] / rollup["notes"] if rollup["notes"] else 0.0
    lines = [
        f"NoteWatt run {rollup['run_id']}  variant {rollup['variant']}",
        f"  notes                  {rollup['notes']}  ({rollup['notes_ok']} ok, {ok_pct:.1f} %)",
        f"  energy                 {rollup['energy_wh']:.4f} Wh  [{rollup['energy_sources']}: {kind}]",
        f"  Wh per 1,000 notes     {rollup['wh_per_1000_notes']:.3f}",
        f"  output tokens / J      {rollup['output_tokens_per_joule']:.3f}",
        f"  total tokens / J       {rollup['total_tokens_per_joule']:.3f}",
        f"  notes / s              {rollup['notes_per_s']:.3f}  ({rollup['duration_s']:.1f} s; "
        f"engine loads {rollup['engine_load_wh']:.4f} Wh, not charged to notes)",
        "  Delta tables:",
        *[f"    {name:<18} {location}" for name, location in tables.items()],
        f"  MLflow run {tracked.run_id} (experiment {tracked.experiment_id}) at {tracked.tracking_uri}",
    ]
    return "\n".join(lines)


def print_summary(rollup: dict, tables: dict[str, str], tracked: TrackedRun) -> None:
    print(summary_text(rollup, tables, tracked), flush=True)
