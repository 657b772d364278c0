"""One MLflow run per job: its parameters, its roll-up and quality figures as metrics, tags that say where the
data, the energy and the quality reference came from, the Delta table versions, and the run's artifacts (the
resolved config, the roll-up, the partition chart and the HTML run report)."""

from __future__ import annotations

from dataclasses import dataclass

import mlflow
import pandas as pd
from pyspark.sql.types import NumericType

from notewatt.config import JobConfig
from notewatt.gate.checks import Check, gate_passed, gate_report
from notewatt.reporting.charts import close_figure, partition_energy_chart
from notewatt.reporting.html_report import run_report_html
from notewatt.tables import RUN_ROLLUP
from notewatt.tracking.experiment import RUN_ID_TAG, use_experiment

METRICS = tuple(f.name for f in RUN_ROLLUP.schema.fields if isinstance(f.dataType, NumericType))  # run_rollup's figures


@dataclass(frozen=True)
class TrackedRun:
    experiment_id: str
    run_id: str
    tracking_uri: str


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
        mlflow.log_metrics({k: float(rollup[k]) for k in METRICS if rollup.get(k) is not None} | quality)
        mlflow.set_tags(
            {
                RUN_ID_TAG: rollup["run_id"],
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


def log_stage_time(tracked: TrackedRun, stage: str, seconds: float) -> None:
    """A stage that ended after the run was logged (MLflow's own): a metric added to the run."""
    mlflow.MlflowClient(tracking_uri=tracked.tracking_uri).log_metric(tracked.run_id, f"stage_{stage}_s", seconds)
