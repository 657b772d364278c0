"""PNG charts for the run's MLflow artifacts."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402


def partition_energy_chart(partitions: pd.DataFrame, energy_label: str):
    """Energy (J) and output tokens per partition, side by side."""
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
