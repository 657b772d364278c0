"""Variant comparison: one row per run (energy, speed, quality, measured or estimated) and the
energy/quality Pareto frontier (less energy per 1,000 notes, more F1)."""

from __future__ import annotations

import pandas as pd

COLUMNS = (
    "variant", "run_id", "wh_per_1000_notes", "output_tokens_per_joule", "notes_per_s", "f1_overall",
    "json_valid_rate", "energy_status", "notes",
)
NUMBERS = ("wh_per_1000_notes", "output_tokens_per_joule", "notes_per_s", "f1_overall", "json_valid_rate")
TABLE_SCHEMA = (
    "comparison_id string, variant string, run_id string, wh_per_1000_notes double, output_tokens_per_joule double, "
    "notes_per_s double, f1_overall double, json_valid_rate double, energy_status string, notes long, "
    "on_front boolean"
)


def comparison_table(rollups: list[dict]) -> pd.DataFrame:
    """The comparison's rows (from roll-up rows or equivalent dicts), ordered by energy, with a `quality`
    column (see quality_column) and the Pareto front marked (`on_front`)."""
    table = pd.DataFrame([{c: r.get(c) for c in COLUMNS} for r in rollups], columns=list(COLUMNS))
    table = table.sort_values("wh_per_1000_notes", kind="stable").reset_index(drop=True)
    table = table.assign(quality=table[quality_column(table)])
    return table.assign(on_front=pareto_front(table))


def quality_column(table: pd.DataFrame) -> str:
    """F1 where every run was scored, else the valid-JSON rate."""
    return "f1_overall" if table["f1_overall"].notna().all() else "json_valid_rate"


def pareto_front(runs: pd.DataFrame) -> pd.Series:
    """True for runs no other run beats on both counts (fewer or equal Wh per 1,000 notes and at least the
    same `quality`, strictly better on one); runs without a quality figure are never on the front."""
    energy, quality = runs["wh_per_1000_notes"], runs["quality"]

    def dominated(i) -> bool:
        no_worse = (energy <= energy[i]) & (quality >= quality[i])
        better = (energy < energy[i]) | (quality > quality[i])
        return bool((no_worse & better).any())

    return pd.Series([pd.notna(quality[i]) and not dominated(i) for i in runs.index], index=runs.index)


def table_rows(table: pd.DataFrame, comparison_id: str) -> list[tuple]:
    """Rows for the variant_comparisons Delta table (TABLE_SCHEMA), nulls for missing figures."""
    typed = table.astype({c: "float64" for c in NUMBERS} | {"notes": "Int64"}).astype(object)
    clean = typed.where(table.notna(), None)
    return [(comparison_id, *row) for row in clean[[*COLUMNS, "on_front"]].itertuples(index=False)]


def format_table(table: pd.DataFrame) -> str:
    """The table for the console, numbers rounded."""
    return table.to_string(index=False, float_format=lambda x: f"{x:.4g}")


def runs_from_mlflow(filter_string: str, experiment: str) -> list[dict]:
    """Comparison rows rebuilt from existing MLflow runs chosen by a search filter (e.g. a tag)."""
    import mlflow

    runs = mlflow.search_runs(experiment_names=[experiment], filter_string=filter_string, output_format="list")
    return [
        {
            "variant": run.data.params.get("variant"),
            "run_id": run.data.tags.get("notewatt.run_id"),
            "energy_status": run.data.tags.get("notewatt.energy"),
            **run.data.metrics,
        }
        for run in runs
        if "notewatt.run_id" in run.data.tags
    ]
