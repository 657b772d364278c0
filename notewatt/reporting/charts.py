"""PNG charts for the run's MLflow artifacts, its HTML report and the energy report notebook."""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from udfs.energy.vocabulary import status  # noqa: E402


def partition_energy_chart(partitions: pd.DataFrame, energy_status: str, energy_sources: str):
    """Energy (J) and output tokens per partition, side by side; the energy titled with its status and sources."""
    energy_label = f"{status(energy_status).label}: {energy_sources}"
    ordered = partitions.sort_values("partition_id")
    labels = [str(p) for p in ordered["partition_id"]]
    positions = range(len(labels))
    figure, (energy_ax, tokens_ax) = plt.subplots(1, 2, figsize=(10, 4))
    energy_ax.bar(positions, ordered["energy_j"], color="tab:orange", tick_label=labels)
    energy_ax.set(title=f"Energy per partition ({energy_label})", xlabel="partition", ylabel="J")
    tokens_ax.bar(positions, ordered["output_tokens"], color="tab:blue", tick_label=labels)
    tokens_ax.set(title="Output tokens per partition", xlabel="partition", ylabel="tokens")
    figure.tight_layout()
    return figure


def figure_png(figure) -> bytes:
    """The figure as PNG bytes; the figure is closed."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    close_figure(figure)
    return buffer.getvalue()


def close_figure(figure) -> None:
    """Release a figure once it has been saved or logged (pyplot keeps every open figure alive)."""
    plt.close(figure)


def _status_marker(name: str, color: str | None = None) -> dict:
    """Filled markers for measured energy (or none spent), hollow for (partly) estimated."""
    energy = status(name)
    color = color or energy.color
    return {"facecolors": color if energy.measured else "none", "edgecolors": color}


def run_energy_chart(runs: pd.DataFrame):
    """Wh per 1,000 notes and output tokens per J per run (`label`, `energy_status`); estimated runs hatched."""
    hatches = ["" if status(name).measured else "//" for name in runs["energy_status"]]
    figure, axes = plt.subplots(1, 2, figsize=(10, 2 + 0.5 * len(runs)), sharey=True)
    for ax, column, title in zip(axes, ("wh_per_1000_notes", "output_tokens_per_joule"),
                                 ("Wh per 1,000 notes", "output tokens per J")):
        bars = ax.barh(list(runs["label"]), runs[column], color="tab:orange", edgecolor="black")
        for bar, hatch in zip(bars, hatches):
            bar.set_hatch(hatch)
        ax.set(title=title, xlabel=title)
    axes[0].invert_yaxis()  # first run on top (the axes share y)
    figure.suptitle("Per run (hatched: estimated energy)")
    figure.tight_layout()
    return figure


def partition_distribution_chart(partitions: pd.DataFrame, order: list[str]):
    """Per-partition Wh per 1,000 notes and output tokens per Wh: a box and its points per run `label`."""
    figure, axes = plt.subplots(1, 2, figsize=(max(10, 2.5 * len(order)), 5))
    positions = list(range(1, len(order) + 1))
    for ax, column, title in zip(axes, ("wh_per_1000_notes", "tokens_per_wh"),
                                 ("Wh per 1,000 notes", "output tokens per Wh")):
        values = [partitions.loc[partitions["label"] == label, column] for label in order]
        ax.boxplot(values, widths=0.5)
        for position, series in zip(positions, values):
            ax.scatter([position] * len(series), series, alpha=0.6, color="tab:blue", zorder=3)
        ax.set_xticks(positions, order, rotation=20, ha="right", fontsize=8)
        ax.set(title=f"{title}, per partition", ylabel=title)
    figure.tight_layout()
    return figure


def pareto_chart(runs: pd.DataFrame, quality_label: str, what: str = "Variants"):
    """Wh per 1,000 notes against `quality` per run (`what` they are: variants, or the tuner's trials), by energy
    status; the Pareto front (`on_front`) dashed; each point names its run and, where scored, its Wh per 1,000
    correct items (energy per correct answer). Runs without a quality figure are left out."""
    runs = runs.dropna(subset=["quality"])
    figure, ax = plt.subplots(figsize=(7, 5))
    for name, group in runs.groupby("energy_status"):
        ax.scatter(group["wh_per_1000_notes"], group["quality"], s=60, label=f"energy {status(name).label.lower()}",
                   **_status_marker(name))
    front = runs[runs["on_front"]].sort_values("wh_per_1000_notes")
    ax.plot(front["wh_per_1000_notes"], front["quality"], color="tab:gray", linestyle="--", label="Pareto front")
    for _, run in runs.iterrows():
        per_item = run.get("wh_per_1000_correct_items")
        label = run["variant"] if pd.isna(per_item) else f"{run['variant']}\n{per_item:.3g} Wh / 1,000 correct items"
        ax.annotate(label, (run["wh_per_1000_notes"], run["quality"]), textcoords="offset points", xytext=(5, 5),
                    fontsize=8)
    ax.set(title=f"{what}: energy vs {quality_label}", xlabel="Wh per 1,000 notes (lower is better)",
           ylabel=f"{quality_label} (higher is better)")
    ax.legend()
    figure.tight_layout()
    return figure


def trend_chart(runs: pd.DataFrame):
    """Wh per 1,000 notes over run start time, one line per variant; (partly) estimated runs hollow."""
    figure, ax = plt.subplots(figsize=(9, 4))
    for variant, group in runs.sort_values("started_at").groupby("variant"):
        (line,) = ax.plot(group["started_at"], group["wh_per_1000_notes"], label=variant)
        for name, points in group.groupby("energy_status"):
            ax.scatter(points["started_at"], points["wh_per_1000_notes"], s=50, zorder=3,
                       **_status_marker(name, line.get_color()))
    ax.set(title="Wh per 1,000 notes over time (hollow: estimated)", xlabel="run start (UTC)",
           ylabel="Wh per 1,000 notes")
    ax.legend()
    figure.autofmt_xdate()
    figure.tight_layout()
    return figure
