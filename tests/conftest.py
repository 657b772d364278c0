"""One Spark session (with Delta) shared by every test that needs Spark; it is also the session the
integration test's job reuses, so the per-worker vLLM engines load once per test run."""

import os

import pytest

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")  # before any test module imports mlflow


@pytest.fixture(scope="session")
def spark():
    from notewatt.cli import DEFAULT_PROFILE
    from notewatt.config import load_config
    from notewatt.spark_session import start_spark

    config = load_config([DEFAULT_PROFILE]).spark
    config.conf["spark.sql.shuffle.partitions"] = "2"
    session = start_spark(config)
    yield session
    session.stop()
