"""Where a run's time goes: the wall time of each of the job's stages on the driver, for the run_rollup row
(`stage_<name>_s`), MLflow, the console summary and the HTML report's table. A stage is timed around the Spark
action that computes it (Spark is lazy: reading and screening cost nothing until their rows are counted)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

import psutil

STAGES = {  # name -> what it covers, in the order a run goes through them
    "launch": "spark-submit's JVM and this Python process starting, up to the job's first line",
    "spark_start": "the Spark session (and its JVM when started from Python)",
    "read_screen": "reading the corpus and screening it (quarantine, flags)",
    "route_cache": "routing and the output-cache look-up: the notes to generate, counted",
    "inference": "the inference stage: Python workers, engine loads and the energy windows",
    "tables": "the tables after inference: energy apportioned, notes given energy, roll-ups",
    "quality": "scoring quality (part of the tables stage)",
    "writes": "writing the run's Delta tables (run_rollup, written last, holds the others' time)",
    "mlflow": "logging the MLflow run, alongside the writes (in MLflow and the summary only)",
}

STAGE_COLUMNS = {f"stage_{name}_s": name for name in STAGES if name != "mlflow"}  # run_rollup's (MLflow's: later)


class StageClock:
    def __init__(self, since_launch: bool = True) -> None:
        """`since_launch`: the clock of a job's process, whose launch is its first stage (not a run that a longer-
        lived process starts: a comparison's variant, a tuner's trial)."""
        self.seconds: dict[str, float] = {"launch": _since_launch()} if since_launch else {}

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        if name not in STAGES:
            raise ValueError(f"unknown stage {name!r}")
        started = time.monotonic()
        try:
            yield
        finally:
            self.seconds[name] = self.seconds.get(name, 0.0) + time.monotonic() - started

    def columns(self) -> dict[str, float | None]:
        """run_rollup's stage columns (null for a stage that did not run), all but MLflow's."""
        return {column: self.seconds.get(name) for column, name in STAGE_COLUMNS.items()}


def _since_launch() -> float:
    """Seconds since spark-submit started this driver (its JVM is this process's parent), else since this process
    started."""
    me = psutil.Process()
    parent = me.parent()
    started = parent.create_time() if parent is not None and "java" in parent.name() else me.create_time()
    return time.time() - started
