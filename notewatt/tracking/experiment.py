"""MLflow's store and experiment: pointing MLflow at them, and finding earlier runs in them (a baseline for the
gate, the runs of an earlier comparison)."""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

import mlflow  # noqa: E402

from notewatt.config import ConfigError, MlflowConfig, resolve_path  # noqa: E402

RUN_ID_TAG = "notewatt.run_id"  # every job's MLflow run carries its NoteWatt run id


def resolve_tracking_uri(uri: str) -> str:
    """A relative sqlite URI is taken relative to the project root, so every entry point uses one store."""
    prefix = "sqlite:///"
    return prefix + resolve_path(uri[len(prefix):]) if uri.startswith(prefix) else uri


def open_store(config: MlflowConfig) -> None:
    """Build MLflow's tracking store for the configured URI (its backend imported, a sqlite database created or
    migrated). MLflow keeps the store for the process, so the run's logging later does not wait for it."""
    mlflow.MlflowClient(tracking_uri=resolve_tracking_uri(config.tracking_uri))


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


def baseline_run_id(config: MlflowConfig, mlflow_run_id: str | None, tag: str | None) -> str | None:
    """The NoteWatt run id of a baseline named by MLflow run id, or of the latest run carrying tag `key=value`."""
    client = mlflow.MlflowClient(tracking_uri=resolve_tracking_uri(config.tracking_uri))
    if mlflow_run_id:
        try:
            tags = client.get_run(mlflow_run_id).data.tags
        except mlflow.exceptions.MlflowException:
            raise ConfigError(f"--baseline-mlflow-run {mlflow_run_id!r} is not a run in {config.tracking_uri}") from None
        if RUN_ID_TAG not in tags:
            raise ConfigError(f"--baseline-mlflow-run {mlflow_run_id!r} is not a NoteWatt job's run (no {RUN_ID_TAG} tag)")
        return tags[RUN_ID_TAG]
    if not tag:
        return None
    key, _, value = tag.partition("=")
    found = mlflow.search_runs(
        experiment_names=[config.experiment], filter_string=f"tags.`{key}` = '{value}'", order_by=["start_time DESC"],
        max_results=1, output_format="list",
    )
    if not found:
        raise ConfigError(f"no MLflow run in experiment {config.experiment!r} has tag {key}={value}")
    return found[0].data.tags[RUN_ID_TAG]


def job_runs(filter_string: str, experiment: str) -> list[dict]:
    """The job runs an MLflow search filter selects (e.g. a comparison's tag): variant, run id, energy status
    and metrics of each, as comparison rows."""
    runs = mlflow.search_runs(experiment_names=[experiment], filter_string=filter_string, output_format="list")
    return [
        {
            "variant": run.data.params.get("variant"),
            "dtype": run.data.params.get("dtype"),
            "run_id": run.data.tags.get(RUN_ID_TAG),
            "energy_status": run.data.tags.get("notewatt.energy"),
            **run.data.metrics,
        }
        for run in runs
        if RUN_ID_TAG in run.data.tags
    ]
