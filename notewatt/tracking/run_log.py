"""One MLflow run per job: its parameters, its roll-up and quality figures as metrics, tags that say where the
data, the energy and the quality reference came from, the Delta table versions, and the run's artifacts (the
resolved config, the roll-up, the partition chart and the HTML run report)."""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import mlflow
import pandas as pd
from mlflow.entities import Metric, RunTag
from pyspark.sql.types import NumericType

from notewatt.config import JobConfig
from notewatt.engine_sizing import EngineSizing
from notewatt.gate.checks import Check, gate_passed, gate_report
from notewatt.reporting.charts import figure_png, partition_energy_chart
from notewatt.reporting.html_report import run_report_html
from notewatt.tables import RUN_ROLLUP
from notewatt.tracking.experiment import RUN_ID_TAG, use_experiment

METRICS = tuple(f.name for f in RUN_ROLLUP.schema.fields if isinstance(f.dataType, NumericType))  # run_rollup's figures


@dataclass(frozen=True)
class TrackedRun:
    experiment_id: str
    run_id: str
    tracking_uri: str


def job_params(config: JobConfig, sizing: EngineSizing, spark_master: str, dtype: str | None) -> dict[str, object]:
    """The run's settings; `sizing` its partitions and engine threads (what the host held), `dtype` what its
    engines computed in (the variant's `native` resolved per host)."""
    variant = config.selected_variant
    return {
        "variant": config.variant,
        "model": variant.model,
        "dtype": dtype or "none",
        "dtype_setting": variant.dtype,
        "quantization": variant.quantization or "none",
        "engine": "vllm",
        "batch_size": config.engine.batch_size or "arrow_batch",
        "sort_by_length": config.engine.sort_by_length,
        "drop_sections": ",".join(config.preprocess.drop_sections) or "none",
        "chunk_long_notes": config.preprocess.chunk_long_notes,
        "output_cache": config.cache.enabled,
        "routing": config.routing.summary,
        "max_tokens": config.engine.max_tokens,
        "temperature": config.engine.temperature,
        "structured_outputs_backend": config.engine.structured_outputs_backend,
        "partitions": sizing.partitions,
        "engine_threads": sizing.threads or "engine_env",
        "spark_master": spark_master,
        **{f"engine_arg.{k}": v for k, v in config.engine_args.items()},
    }


ROUTE_METRICS = ("notes", "wh_per_1000_notes", "output_tokens_per_joule", "f1_overall", "escalation_rate")


def route_metrics(routes: list[dict]) -> dict[str, float]:
    """Per-route figures as MLflow metrics, e.g. route.<variant>.wh_per_1000_notes."""
    return {
        f"route.{r['variant']}.{name}": float(r[name]) for r in routes for name in ROUTE_METRICS if r[name] is not None
    }


def log_job_run(
    config: JobConfig, params: dict, rollup: dict, quality: dict[str, float], partitions: pd.DataFrame,
    checks: list[Check], parent_run_id: str | None = None,
) -> TrackedRun:
    """Log the run (under `parent_run_id`, e.g. a variant comparison's or a tuning search's: the job may log from
    a thread of its own, where MLflow's active run is not seen); metrics are the roll-up's numeric columns and the
    quality scores, tags say where the data, energy and quality reference came from and whether the run met its
    targets; artifacts include the HTML run report. finish_job_run() adds what is known only later."""
    uri, experiment = use_experiment(config.mlflow)
    energy_kind = rollup["energy_status"]
    with mlflow.start_run(run_name=rollup["run_id"], parent_run_id=parent_run_id) as run:
        mlflow.log_params(params)
        mlflow.log_metrics({k: float(rollup[k]) for k in METRICS if rollup.get(k) is not None} | quality)
        mlflow.set_tags(
            {
                RUN_ID_TAG: rollup["run_id"],
                "notewatt.energy": energy_kind,
                "notewatt.energy_sources": rollup["energy_sources"],
                "notewatt.carbon_intensity_source": rollup["carbon_intensity_source"] or "none",
                "notewatt.quality_mode": rollup["quality_mode"],
                "notewatt.gate": ("passed" if gate_passed(checks) else "failed") if checks else "not checked",
            }
        )
        mlflow.log_dict(config.model_dump(mode="json"), "config/resolved_config.json")
        rollup_frame = pd.DataFrame([rollup])
        mlflow.log_text(rollup_frame.to_csv(index=False), "rollup/run_rollup.csv")
        mlflow.log_dict(rollup_frame.astype(str).iloc[0].to_dict(), "rollup/run_rollup.json")
        chart = figure_png(partition_energy_chart(partitions, energy_kind, rollup["energy_sources"]))
        with tempfile.TemporaryDirectory() as folder:  # the chart is drawn once, for the artifact and the report
            (Path(folder) / "partition_energy.png").write_bytes(chart)
            mlflow.log_artifact(str(Path(folder) / "partition_energy.png"), "charts")
        mlflow.log_text(run_report_html(rollup, partitions, checks, chart), "report/run_report.html")
        if checks:
            mlflow.log_text(gate_report(checks), "report/gate.txt")
    return TrackedRun(experiment.experiment_id, run.info.run_id, uri)


def active_run_id() -> str | None:
    """The MLflow run active in this thread (the parent a job's run goes under), if any."""
    run = mlflow.active_run()
    return run.info.run_id if run else None


def finish_job_run(tracked: TrackedRun, table_versions: dict[str, int], stage_seconds: dict[str, float]) -> None:
    """What the run learns after it was logged: the Delta table versions it wrote (tags) and the time of the stages
    that ended later (metrics stage_<name>_s)."""
    client = mlflow.MlflowClient(tracking_uri=tracked.tracking_uri)
    tags = [RunTag(f"delta.{name}.version", str(version)) for name, version in table_versions.items()]
    metrics = [Metric(f"stage_{name}_s", seconds, int(time.time() * 1000), 0) for name, seconds in stage_seconds.items()]
    client.log_batch(tracked.run_id, metrics=metrics, tags=tags)


def fail_job_run(tracked: TrackedRun, reason: str) -> None:
    """Mark a logged run FAILED, with why (e.g. its tables could not be written after it was logged)."""
    client = mlflow.MlflowClient(tracking_uri=tracked.tracking_uri)
    client.set_tag(tracked.run_id, "notewatt.failure", reason)
    client.set_terminated(tracked.run_id, status="FAILED")
