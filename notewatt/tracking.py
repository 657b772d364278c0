"""MLflow: one run per job with its parameters, roll-up metrics, table versions and artifacts."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

import mlflow  # noqa: E402
import pandas as pd  # noqa: E402

from notewatt.charts import close_figure, partition_energy_chart  # noqa: E402
from notewatt.config import JobConfig, MlflowConfig, resolve_path  # noqa: E402
from notewatt.gate import Check, gate_passed, gate_report  # noqa: E402
from notewatt.report import run_report_html  # noqa: E402

METRIC_COLUMNS = (
    "notes", "notes_ok", "prompt_tokens", "output_tokens", "energy_wh", "gpu_energy_wh", "host_energy_wh",
    "measured_share", "energy_above_idle_wh", "wh_per_1000_notes", "retry_energy_j", "retry_windows",
    "wh_per_1000_notes_incl_retries",
    "output_tokens_per_joule", "total_tokens_per_joule", "tokens_per_wh_p50", "tokens_per_wh_p95",
    "duration_s", "notes_per_s", "engine_load_wh", "inference_s", "partitions", "partial_partitions",
    "shared_device_partitions", "notes_reused", "cache_hit_rate", "energy_avoided_wh", "cached_prompt_tokens",
    "prefix_cache_hit_rate", "notes_in", "notes_quarantined", "facility_wh_per_1000_notes", "gco2e_per_1000_notes", "cost_per_1000_notes", "pue",
)


@dataclass(frozen=True)
class TrackedRun:
    experiment_id: str
    run_id: str
    tracking_uri: str


def resolve_tracking_uri(uri: str) -> str:
    """A relative sqlite URI is taken relative to the project root, so every entry point uses one store."""
    prefix = "sqlite:///"
    return prefix + resolve_path(uri[len(prefix):]) if uri.startswith(prefix) else uri


def use_experiment(config: MlflowConfig) -> tuple[str, object]:
    """Point MLflow at the configured store and experiment (created with its artifact location on first use)."""
    uri = resolve_tracking_uri(config.tracking_uri)
    mlflow.set_tracking_uri(uri)
    if mlflow.get_experiment_by_name(config.experiment) is None:
        location = resolve_path(config.artifact_location) if config.artifact_location else None
        if location and location.startswith("/"):
            location = Path(location).as_uri()
        mlflow.create_experiment(config.experiment, artifact_location=location)
    return uri, mlflow.set_experiment(config.experiment)


def job_params(config: JobConfig, partitions: int, spark_master: str) -> dict[str, object]:
    variant = config.selected_variant
    return {
        "variant": config.variant,
        "model": variant.model,
        "dtype": variant.dtype,
        "quantization": variant.quantization or "none",
        "engine": "vllm",
        "batch_size": config.engine.batch_size or "arrow_batch",
        "sort_by_length": config.engine.sort_by_length,
        "drop_sections": ",".join(config.preprocess.drop_sections) or "none",
        "chunk_long_notes": config.preprocess.chunk_long_notes,
        "output_cache": config.cache.enabled,
        "routing": f"{config.routing.rule}:{config.routing.small_variant}" if config.routing.small_variant else "none",
        "max_tokens": config.engine.max_tokens,
        "temperature": config.engine.temperature,
        "structured_outputs_backend": config.engine.structured_outputs_backend,
        "partitions": partitions,
        "spark_master": spark_master,
        **{f"engine_arg.{k}": v for k, v in config.engine_args.items()},
    }


ROUTE_METRICS = ("notes", "wh_per_1000_notes", "output_tokens_per_joule", "f1_overall")


def route_metrics(routes: list[dict]) -> dict[str, float]:
    """Per-route figures as MLflow metrics, e.g. route.<variant>.wh_per_1000_notes."""
    return {
        f"route.{r['variant']}.{name}": float(r[name]) for r in routes for name in ROUTE_METRICS if r[name] is not None
    }


def log_job_run(
    config: JobConfig, params: dict, rollup: dict, quality: dict[str, float], partitions: pd.DataFrame,
    table_versions: dict[str, int], checks: list[Check],
) -> TrackedRun:
    """Log the run (nested under an active parent run, e.g. a variant comparison's); metrics are the roll-up's
    numeric columns and the quality scores, tags say where the data, energy and quality reference came from
    and whether the run met its targets; artifacts include the HTML run report."""
    uri, experiment = use_experiment(config.mlflow)
    energy_kind = rollup["energy_status"]
    with mlflow.start_run(run_name=rollup["run_id"], nested=mlflow.active_run() is not None) as run:
        mlflow.log_params(params)
        mlflow.log_metrics({k: float(rollup[k]) for k in METRIC_COLUMNS if rollup.get(k) is not None} | quality)
        mlflow.set_tags(
            {
                "notewatt.run_id": rollup["run_id"],
                "notewatt.energy": energy_kind,
                "notewatt.energy_sources": rollup["energy_sources"],
                "notewatt.carbon_intensity_source": rollup["carbon_intensity_source"] or "none",
                "notewatt.quality_mode": rollup["quality_mode"],
                "notewatt.gate": ("passed" if gate_passed(checks) else "failed") if checks else "not checked",
                **{f"delta.{name}.version": str(v) for name, v in table_versions.items()},
            }
        )
        mlflow.log_dict(config.model_dump(mode="json"), "config/resolved_config.json")
        rollup_frame = pd.DataFrame([rollup])
        mlflow.log_text(rollup_frame.to_csv(index=False), "rollup/run_rollup.csv")
        mlflow.log_dict(rollup_frame.astype(str).iloc[0].to_dict(), "rollup/run_rollup.json")
        chart = partition_energy_chart(partitions, energy_kind, rollup["energy_sources"])
        mlflow.log_figure(chart, "charts/partition_energy.png")
        close_figure(chart)
        mlflow.log_text(run_report_html(rollup, partitions, checks), "report/run_report.html")
        if checks:
            mlflow.log_text(gate_report(checks), "report/gate.txt")
    return TrackedRun(experiment.experiment_id, run.info.run_id, uri)
