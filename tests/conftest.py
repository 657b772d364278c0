"""One Spark session (with Delta) shared by every test that needs Spark, and one real job run shared by the
integration tests; the job reuses that session, so the per-worker vLLM engines load once per test run."""

import os

import pytest

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")  # before any test module imports mlflow
FIRST = "test_default_model_integration.py"  # the default (1.5B) model's run, before any worker holds an engine


def pytest_collection_modifyitems(items):
    """Run the default model's test first: its engines need the host's memory before the suite's own hold any."""
    items.sort(key=lambda item: item.path.name != FIRST)  # a stable sort: every other test keeps its order


@pytest.fixture(scope="session")
def spark():
    from notewatt.cli import DEFAULT_PROFILE
    from notewatt.config import load_config
    from notewatt.spark_session import start_spark

    config = load_config([DEFAULT_PROFILE]).spark
    config.conf["spark.sql.shuffle.partitions"] = "2"
    config.conf["spark.sql.ui.retainedExecutions"] = "100"  # one JVM runs the whole suite's queries (default 1000)
    session = start_spark(config)
    yield session
    session.stop()


JOB_NOTES = 4  # the first notes of the sample corpus that the shared job run abstracts
FAST = "smollm2-135m-fp32"  # the fast model most tests run (the same numerics on every CPU)


@pytest.fixture(scope="session")
def job_run(spark, tmp_path_factory):
    """The real job over JOB_NOTES sample notes, once per test session: (its roll-up row, the OutputConfig of
    its Delta tables, its MLflow tracking URI; experiment `notewatt`)."""
    import notewatt
    from notewatt.cli import DEFAULT_PROFILE
    from notewatt.config import PROJECT_ROOT, OutputConfig, load_config

    tmp = tmp_path_factory.mktemp("job")
    lines = (PROJECT_ROOT / "data" / "sample_notes" / "notes.jsonl").read_text().splitlines()[:JOB_NOTES]
    (tmp / "notes.jsonl").write_text("\n".join(lines) + "\n")
    uri = f"sqlite:///{tmp}/mlflow.db"
    config = load_config([DEFAULT_PROFILE], [
        f"corpus.path={tmp / 'notes.jsonl'}", f"output.path={tmp / 'delta'}", "run_id=it-run", f"variant={FAST}",
        "engine.max_tokens=64", "spark.partitions=2", f"mlflow.tracking_uri={uri}",
        f"mlflow.artifact_location={tmp}/artifacts", "facility.pue=1.25", "facility.grid_region=DEU",
    ])
    result = notewatt.run(config, spark)
    return result.rollup | {"mlflow_run_id": result.tracked.run_id}, OutputConfig(path=str(tmp / "delta")), uri
