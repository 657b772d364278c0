"""The run leaving the driver: its Delta tables (and the output cache) written while its MLflow run is logged, in a
thread of its own, since the two wait on different things. MLflow and its charts are imported, and MLflow's store
opened, in the background while inference runs (prefetch), off the run's critical path."""

from __future__ import annotations

import importlib
import logging
import threading
from concurrent.futures import ThreadPoolExecutor

from notewatt.config import JobConfig, MlflowConfig
from notewatt.engine_sizing import EngineSizing
from notewatt.gate.checks import Check
from notewatt.output_cache import ReusePlan, update_cache
from notewatt.pipeline import RunResults
from notewatt.stages import StageClock
from notewatt.table_store import TableStore
from notewatt.tables import NOTE_ABSTRACTIONS, RUN_ROLLUP

TRACKING = ("notewatt.tracking.run_log", "notewatt.reporting.summary")  # mlflow, matplotlib, jinja2
log = logging.getLogger("notewatt.publish")


def prefetch(config: MlflowConfig) -> threading.Thread:
    """Import the tracking and reporting modules and open MLflow's store in a thread (the driver mostly waits on
    Spark meanwhile)."""
    thread = threading.Thread(target=_prefetch, args=(config,), name="prefetch", daemon=True)
    thread.start()
    return thread


def _prefetch(config: MlflowConfig) -> None:
    for module in TRACKING:
        importlib.import_module(module)
    from notewatt.tracking.experiment import open_store

    try:
        open_store(config)
    except Exception as exc:  # logging the run opens it again, and fails there with MLflow's own message
        log.info("MLflow's store not opened ahead of the run's logging (%s)", type(exc).__name__)


def publish(store: TableStore, config: JobConfig, results: RunResults, reuse: ReusePlan | None, attempt: int,
            clock: StageClock, checks: list[Check], sizing: EngineSizing):
    """Write the run's tables while its MLflow run is logged; returns (the tables' versions, the tracked run)."""
    from notewatt.tracking.run_log import (
        active_run_id, fail_job_run, finish_job_run, job_params, log_job_run, route_metrics,
    )

    params = job_params(config, sizing, store.spark.sparkContext.master, results.rollup["dtype"])
    parent = active_run_id()  # a comparison's or a search's run, seen from this thread only
    rollup, metrics = results.rollup | clock.columns(), results.quality.metrics | route_metrics(results.routes)

    def track():
        with clock.stage("mlflow"):
            return log_job_run(config, params, rollup, metrics, results.partitions, checks, parent)

    with ThreadPoolExecutor(max_workers=1) as pool:
        tracking = pool.submit(track)
        try:
            versions = write_results(store, config, results, reuse, attempt, clock)
        except BaseException as exc:  # the run logged alongside must not look like a run whose tables exist
            if tracking.exception() is None:
                fail_job_run(tracking.result(), f"writing the Delta tables failed: {type(exc).__name__}")
            raise
        tracked = tracking.result()
    finish_job_run(tracked, versions, {name: clock.seconds[name] for name in ("writes", "mlflow")})
    return versions, tracked


def write_results(store: TableStore, config: JobConfig, results: RunResults, reuse: ReusePlan | None,
                  attempt: int, clock: StageClock) -> dict[str, int]:
    """Write the run's tables concurrently (each is its own Delta commit; most are small, so the commits' fixed
    costs dominate), add its new outputs to the output cache, then write its run_rollup row with the time every
    stage took so far (`results.rollup` gets them too); returns each table's new version. A rerun of the run_id
    replaces its rows."""
    run_id = results.rollup["run_id"]
    with clock.stage("writes"):
        with ThreadPoolExecutor(max_workers=8) as pool:
            futures = {table.name: pool.submit(store.write_rows, table, frame, run_id, attempt)
                       for table, frame in results.tables.items()}
            versions = {name: future.result() for name, future in futures.items()}
        if reuse:  # after the tables: the notes' lineage looks the cache up as it was before this run
            update_cache(store, config.cache, results.tables[NOTE_ABSTRACTIONS], reuse)
    results.rollup.update(clock.columns())
    rollup = store.spark.createDataFrame([results.rollup], RUN_ROLLUP.schema)
    return versions | {RUN_ROLLUP.name: store.write_rows(RUN_ROLLUP, rollup, run_id, attempt)}
