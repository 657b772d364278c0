"""One run of the job, as a function: `notewatt.run(config, spark) -> RunResult`. The jobs (abstract_notes,
compare_variants, tune_energy), bench/ and the tests all run the job through it; jobs/abstract_notes.py is its
command line.

notes -> screening (quarantine) -> Spark NLP (optional) -> routing (small/large variant, or a cascade) -> output reuse
      -> prompts -> engine -> note rows committed slice by slice + energy windows in the ledger (on executors,
      udfs/) -> tables and roll-up from the committed rows and the ledger (+ quality) -> gate -> Delta + MLflow.
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass, replace
from datetime import datetime, timezone

from pyspark.sql import SparkSession

from notewatt.commits import SliceCommits
from notewatt.config import JobConfig, resolve_path
from notewatt.cascade import run_cascade
from notewatt.corpus import read_notes
from notewatt.energy_frames import ledger_folder, run_ledger
from notewatt.engine_sizing import size_engines
from notewatt.gate.checks import Check, gate_passed
from notewatt.gate.run_checks import gate_job_run
from notewatt.impact import ImpactFactors, impact_factors
from notewatt.inference import partition_settings, run_routes, warm_up_workers
from notewatt.input_flags import DEFAULT_MAX_CHARS, max_chars_for
from notewatt.nlp_stage import check_preprocess, run_preprocess
from notewatt.output_cache import look_up_outputs
from notewatt.pipeline import RunInputs, require_notes, run_results
from notewatt.progress import Progress
from notewatt.publish import prefetch, publish
from notewatt.quality.run_quality import load_reference
from notewatt.rollup import RunInfo
from notewatt.routing import route_notes
from notewatt.run_state import COMPLETE, FAILED, RunIdentity, RunState
from notewatt.screening import screen_notes
from notewatt.spark_session import default_partitions, start_spark
from notewatt.stages import StageClock
from notewatt.table_store import TableStore
from notewatt.tables import TABLES
from notewatt.tracking.run_log import TrackedRun
from udfs.abstract_partition import PartitionSettings

log = logging.getLogger("notewatt.job")


@dataclass(frozen=True)
class RunResult:
    run_id: str
    rollup: dict  # the run_rollup row, with the stages' times
    routes: list[dict]  # the route_rollup rows
    checks: list[Check]  # the gate's checks against the targets (and a baseline)
    tables: dict[str, str]  # table name -> where its rows of this run were written
    tracked: TrackedRun  # the MLflow run
    stage_seconds: dict[str, float]  # where the run's time went, MLflow's logging too

    @property
    def gate_passed(self) -> bool:
        return gate_passed(self.checks)


def run(config: JobConfig, spark: SparkSession | None = None, clock: StageClock | None = None) -> RunResult:
    """Run the job once with `config` (in `spark`, else the session the config describes): every note through the
    engine, the run's tables written, its MLflow run logged and its gate checked. A rerun of a run id resumes it:
    only the notes it has not committed go to the engine. A user's mistake raises one of notewatt.cli.USER_ERRORS
    before any inference; a cancelled inference stage raises InferenceCancelled."""
    clock = clock or StageClock(since_launch=False)
    run_id = config.run_id or f"run-{datetime.now(timezone.utc):%Y%m%d-%H%M%S}-{uuid.uuid4().hex[:6]}"
    attempt = int(time.time() * 1000)  # this job attempt: its Delta writes and its energy ledger
    impact = impact_factors(config.facility)  # a bad grid region fails here, before any inference
    check_preprocess(config.preprocess)  # so does Spark NLP asked for on the Spark 4 line
    with clock.stage("spark_start"):
        spark = spark or start_spark(config.spark)
    store = TableStore(spark, config.output)
    settings = {variant: partition_settings(config, run_id, variant, ledger_folder(config, run_id, attempt))
                for variant in config.variants_in_use}
    state = RunState(store, run_id, attempt, RunIdentity.of(config, settings[config.variant].template.version))
    state.begin(config.resume)  # another run's settings under this run id stop here
    try:
        result = _run_attempt(config, spark, clock, store, settings, SliceCommits(
            store, run_id, attempt, config.output.slice_notes_per_task), impact)
    except BaseException as exc:
        state.end(FAILED, error=type(exc).__name__)
        raise
    state.end(COMPLETE, notes_resumed=result.rollup["notes_resumed"])
    return result


def _run_attempt(config: JobConfig, spark: SparkSession, clock: StageClock, store: TableStore,
                 settings: dict[str, PartitionSettings], commits: SliceCommits, impact: ImpactFactors) -> RunResult:
    run_id, attempt = commits.run_id, commits.job_attempt
    slots = default_partitions(spark)
    sizing = size_engines(spark, config, settings, config.spark.partitions or slots, slots)  # memory and cores
    partitions = sizing.partitions
    settings = {variant: replace(s, engine_threads=sizing.threads) for variant, s in settings.items()}
    budget = settings[config.variant].prompt_budget_tokens
    log.info("run %s: variants %s, %d partitions", run_id, ", ".join(settings), partitions)

    with clock.stage("read_screen"):
        if config.engine.warm_up_workers:  # the workers import vLLM while the notes are read, screened and routed
            warm_up_workers(spark, settings[config.variant], min(partitions, slots))
        notes = read_notes(spark, resolve_path(config.corpus.path), config.corpus.format)
        screened = screen_notes(
            notes.limit(config.corpus.limit) if config.corpus.limit else notes, run_id,
            max_chars_for(budget) if budget else DEFAULT_MAX_CHARS, config.screening,
        ).persist()
        counts = screened.counts()
    require_notes(store, screened, counts, run_id, attempt)  # a one-line error when every record was quarantined
    reference = load_reference(store, config.quality)  # so is a gold file or reference run that cannot be used
    clean, preprocess = run_preprocess(screened.clean, config.preprocess)
    with clock.stage("route_cache"):
        routed = route_notes(clean, config.routing, config.variant)
        reuse = look_up_outputs(store, config.cache, routed, config.routing, settings) if config.cache.enabled else None
        to_generate = (reuse.to_generate if reuse else routed).persist()
        total = to_generate.count()
        resumed = commits.resumed_notes()
    if resumed:
        log.info("run %s resumed: %d notes committed by its earlier attempts", run_id, resumed)
    started_at, inference_start = datetime.now(timezone.utc), time.monotonic()
    prefetch(config.mlflow)  # MLflow (its store too) and the charts, made ready while the driver waits on inference
    cascade = config.routing.mode == "cascade"
    ledger = ledger_folder(config, run_id, attempt)
    with clock.stage("inference"), Progress(ledger, total, config.progress_s, config.variant if cascade else None,
                                            resumed):
        if cascade:
            outputs = run_cascade(to_generate, settings[config.routing.small_variant], settings[config.variant],
                                  config.routing, partitions, commits, config.engine.sort_by_length)
        else:
            outputs = run_routes(to_generate, settings, partitions, commits, config.engine.sort_by_length)
    info = RunInfo(
        run_id, config.variant, config.selected_variant.model, started_at, time.monotonic() - inference_start, impact,
        preprocess_s=preprocess and preprocess.wall_s,
        preprocess_energy_j=preprocess and preprocess.energy_j(config.energy.cpu_watts_per_core),
        notes_resumed=resumed,
    )

    inputs = RunInputs(screened, counts, reuse, reference)
    results = run_results(store, config, outputs, inputs, info, run_ledger(config, run_id), clock)
    checks = gate_job_run(store, config.gate, run_id, (results.rollup, results.partition_wh_per_1000_notes))
    versions, tracked = publish(store, config, results, reuse, attempt, clock, checks, sizing)
    spark.catalog.clearCache()  # the run's persisted frames
    return RunResult(run_id, results.rollup, results.routes, checks,
                     {name: store.location(TABLES[name]) for name in versions}, tracked, dict(clock.seconds))
