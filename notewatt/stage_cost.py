"""What a Spark stage on the driver's side costs (the Spark NLP preprocessing, notewatt/nlp_stage.py): its wall time,
and its executors' CPU time from Spark's own task metrics (the monitoring REST API of the application's UI),
which the host estimate's rule (udfs/energy/meters.estimated_energy_j) turns into a labelled estimate of its energy:
its CPU term only, since Spark's task metrics give no resident memory over time (the summary and the report say
so). A JVM stage runs outside the
inference windows, so this is how its energy enters the run's figures (run_rollup.preprocess_energy_j)."""

from __future__ import annotations

import json
import logging
import time
import urllib.request
import uuid
from dataclasses import dataclass

from pyspark import StorageLevel
from pyspark.sql import DataFrame

from udfs.energy.meters import estimated_energy_j

log = logging.getLogger("notewatt.stage_cost")


@dataclass(frozen=True)
class StageCost:
    wall_s: float
    cpu_s: float | None  # the stage's executor CPU time; None where Spark's REST API could not be read

    def energy_j(self, watts_per_core: float) -> float | None:
        """An estimate: the host estimate's rule on the stage's CPU time, without its memory term (no figure)."""
        return None if self.cpu_s is None else estimated_energy_j(self.cpu_s, 0.0, watts_per_core, 0.0)


def materialised(frame: DataFrame, name: str) -> tuple[DataFrame, StageCost]:
    """`frame` persisted and computed as a Spark job of its own, with what that job cost."""
    context = frame.sparkSession.sparkContext
    group = f"notewatt-{name}-{uuid.uuid4().hex[:8]}"
    context.setJobGroup(group, f"NoteWatt {name}")
    started = time.monotonic()
    try:
        persisted = frame.persist(StorageLevel.MEMORY_AND_DISK)
        persisted.count()
    finally:
        context.setLocalProperty("spark.jobGroup.id", None)
        context.setLocalProperty("spark.job.description", None)
    return persisted, StageCost(time.monotonic() - started, executor_cpu_s(context, group))


def executor_cpu_s(context, group: str, wait_s: float = 10.0) -> float | None:
    """The executor CPU time of the job group's stages, from the REST API (its figures settle once the UI's
    listener has seen the stages complete); None, with a warning, where the UI is off or does not answer."""
    tracker = context.statusTracker()
    jobs = [tracker.getJobInfo(job) for job in tracker.getJobIdsForGroup(group)]
    stage_ids = [s for job in jobs if job is not None for s in job.stageIds]  # None: a job the UI has forgotten
    if not context.uiWebUrl or not stage_ids:
        log.warning("no Spark UI (spark.ui.enabled) or no stages for %s: its CPU time and energy are unknown", group)
        return None
    deadline = time.monotonic() + wait_s
    while True:
        try:
            attempts = [a for s in stage_ids for a in _stage_attempts(context, s)]
        except (OSError, ValueError) as exc:  # no answer, or not JSON
            log.warning("Spark's REST API did not answer (%s): %s's CPU time is unknown", type(exc).__name__, group)
            return None
        if all(a["status"] in ("COMPLETE", "SKIPPED") for a in attempts) or time.monotonic() > deadline:
            return sum(a.get("executorCpuTime", 0) for a in attempts) / 1e9
        time.sleep(0.2)


def _stage_attempts(context, stage_id: int) -> list[dict]:
    url = f"{context.uiWebUrl}/api/v1/applications/{context.applicationId}/stages/{stage_id}"
    with urllib.request.urlopen(url, timeout=5) as reply:
        return json.load(reply)
