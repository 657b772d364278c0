"""Frames behind notebooks/energy_report: runs with their quality metric, per-partition figures, the Pareto
front. Pure pandas; only aggregate figures and ids, never note text."""

from __future__ import annotations

import pandas as pd

from udfs.energy.vocabulary import status, wh, wh_per_1000_notes

RUN_COLUMNS = (
    "run_id", "variant", "started_at", "notes", "notes_ok", "energy_wh", "wh_per_1000_notes",
    "output_tokens_per_joule", "tokens_per_wh_p50", "tokens_per_wh_p95", "energy_status", "energy_sources",
    "measured_share",
)
PARTITION_COLUMNS = ("run_id", "partition_id", "notes", "output_tokens", "energy_j", "energy_source")
F1 = "f1_overall"
JSON_VALID = "json validity (notes_ok / notes)"


def run_label(runs: pd.DataFrame) -> pd.Series:
    """`run_id · variant`, marked when the energy is not measured."""
    mark = runs["energy_status"].map(lambda name: "" if status(name).measured else f" [{status(name).label}]")
    return runs["run_id"] + " · " + runs["variant"] + mark


def latest_mlflow_runs(mlflow_runs: pd.DataFrame) -> pd.DataFrame:
    """One MLflow run per NoteWatt run id (the latest: a rerun of a run id logs a new MLflow run), with its
    MLflow run id and f1_overall where logged; runs without a NoteWatt run id (comparison parents) are left out."""
    tag = "tags.notewatt.run_id"
    if tag not in mlflow_runs:
        return pd.DataFrame(columns=["run_id", "mlflow_run_id"])
    latest = mlflow_runs.dropna(subset=[tag]).sort_values("start_time").drop_duplicates(tag, keep="last")
    columns = {tag: "run_id", "run_id": "mlflow_run_id", f"metrics.{F1}": F1}
    return latest[[c for c in columns if c in latest]].rename(columns=columns)


def runs_with_quality(rollups: pd.DataFrame, mlflow_runs: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    """The roll-up rows (oldest first) joined to their MLflow runs, with a `quality` column: f1_overall when
    any run logged it, else json validity; and that metric's name."""
    runs = rollups[list(RUN_COLUMNS)].merge(latest_mlflow_runs(mlflow_runs), on="run_id", how="left")
    runs = runs.sort_values("started_at", ignore_index=True)
    runs["label"] = run_label(runs)
    if F1 in runs and runs[F1].notna().any():
        return runs.assign(quality=runs[F1]), F1
    return runs.assign(quality=runs["notes_ok"] / runs["notes"]), JSON_VALID


def partition_figures(partitions: pd.DataFrame, runs: pd.DataFrame) -> pd.DataFrame:
    """Per partition: Wh per 1,000 notes and output tokens per Wh, with its run's label."""
    frame = partitions[list(PARTITION_COLUMNS)].merge(runs[["run_id", "label"]], on="run_id")
    return frame.assign(wh_per_1000_notes=wh_per_1000_notes(frame["energy_j"], frame["notes"]),
                        tokens_per_wh=frame["output_tokens"] / wh(frame["energy_j"]))
