"""Variant comparison: one row per run (energy, speed, quality, measured or estimated) and the
energy/quality Pareto frontier (less energy per 1,000 notes, more F1)."""

from __future__ import annotations

import pandas as pd

COLUMNS = (
    "variant", "dtype", "run_id", "wh_per_1000_notes", "output_tokens_per_joule", "notes_per_s", "f1_overall",
    "json_valid_rate", "wh_per_1000_correct_items", "energy_status", "notes",
)
NUMBERS = ("wh_per_1000_notes", "output_tokens_per_joule", "notes_per_s", "f1_overall", "json_valid_rate",
           "wh_per_1000_correct_items")

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
    """Rows for the variant_comparisons Delta table (notewatt/tables.py), nulls for missing figures."""
    typed = table.astype({c: "float64" for c in NUMBERS} | {"notes": "Int64"}).astype(object)
    clean = typed.where(table.notna(), None)
    return [(comparison_id, *row) for row in clean[[*COLUMNS, "on_front"]].itertuples(index=False)]


def format_table(table: pd.DataFrame) -> str:
    """The table for the console, numbers rounded."""
    return table.to_string(index=False, float_format=lambda x: f"{x:.4g}")
