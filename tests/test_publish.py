"""The run leaving the driver: when its Delta tables cannot be written, the MLflow run logged alongside them is
marked FAILED with why, so no one compares a run whose tables do not exist."""

from types import SimpleNamespace

import mlflow
import pytest

from notewatt import publish as publishing
from notewatt.engine_sizing import EngineSizing
from notewatt.stages import StageClock
from notewatt.tracking import run_log
from notewatt.tracking.run_log import TrackedRun


def test_a_failed_write_marks_the_logged_run_failed(tmp_path, monkeypatch):
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    client = mlflow.MlflowClient(tracking_uri=uri)
    experiment = client.create_experiment("notewatt", artifact_location=str(tmp_path / "artifacts"))
    logged = client.create_run(experiment).info.run_id
    client.set_terminated(logged, status="FINISHED")  # as log_job_run leaves it

    def full_disk(*_):
        raise OSError("No space left on device")

    monkeypatch.setattr(run_log, "log_job_run", lambda *_: TrackedRun(experiment, logged, uri))
    monkeypatch.setattr(run_log, "job_params", lambda *_: {})
    monkeypatch.setattr(publishing, "write_results", full_disk)
    store = SimpleNamespace(spark=SimpleNamespace(sparkContext=SimpleNamespace(master="local[1]")))
    results = SimpleNamespace(rollup={"dtype": "float32"}, quality=SimpleNamespace(metrics={}), routes=[], partitions=None)
    with pytest.raises(OSError, match="No space left"):
        publishing.publish(store, None, results, None, 0, StageClock(), [], EngineSizing(1))
    run = client.get_run(logged)
    assert run.info.status == "FAILED"
    assert run.data.tags["notewatt.failure"] == "writing the Delta tables failed: OSError"


def test_prefetch_opens_the_tracking_store_before_the_run_logs(tmp_path, caplog):
    """While inference runs, the store the run will log to is built (here a new sqlite database, migrated); a store
    that cannot be opened is left for the run's own logging to report."""
    from notewatt.config import MlflowConfig

    publishing.prefetch(MlflowConfig(tracking_uri=f"sqlite:///{tmp_path}/mlflow.db")).join(timeout=120)
    assert (tmp_path / "mlflow.db").stat().st_size > 0
    with caplog.at_level("INFO", logger="notewatt.publish"):
        publishing.prefetch(MlflowConfig(tracking_uri="nosuchscheme://x")).join(timeout=120)
    assert "not opened ahead" in caplog.text
