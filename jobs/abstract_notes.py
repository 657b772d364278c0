"""Abstract clinical notes with vLLM on Spark and report what it cost in energy.

    spark-submit jobs/abstract_notes.py [--config conf/local_cpu.yaml] [--notes PATH] [--output PATH]
                                        [--run-id ID] [--variant NAME] [key.path=value ...]

notes -> screening (quarantine) -> Spark NLP (optional) -> routing (small/large variant) -> output reuse
      -> prompts -> engine -> outputs + energy windows (on executors, udfs/) -> roll-up (+ quality) -> gate
      -> Delta + MLflow.
"""

from __future__ import annotations

import logging
import sys
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the project root, where spark-submit starts in jobs/

from notewatt.cli import job_arguments, parse_job_config, run_job  # noqa: E402
from notewatt.config import resolve_path  # noqa: E402
from notewatt.corpus import read_notes  # noqa: E402
from notewatt.energy.ledger_account import ledger_folder  # noqa: E402
from notewatt.engine_sizing import fitted_partitions  # noqa: E402
from notewatt.gate.checks import gate_passed, gate_report  # noqa: E402
from notewatt.gate.run_checks import gate_job_run  # noqa: E402
from notewatt.impact import impact_factors  # noqa: E402
from notewatt.inference import (  # noqa: E402
    one_attempt_per_partition, partition_settings, run_routes, warm_up_workers,
)
from notewatt.input_flags import DEFAULT_MAX_CHARS, max_chars_for  # noqa: E402
from notewatt.nlp_stage import check_preprocess, run_preprocess  # noqa: E402
from notewatt.output_cache import look_up_outputs  # noqa: E402
from notewatt.pipeline import RunInputs, require_notes, run_results  # noqa: E402
from notewatt.progress import Progress  # noqa: E402
from notewatt.quality.run_quality import load_reference  # noqa: E402
from notewatt.publish import prefetch, publish  # noqa: E402
from notewatt.rollup import RunInfo  # noqa: E402
from notewatt.routing import route_notes  # noqa: E402
from notewatt.screening import screen_notes  # noqa: E402
from notewatt.spark_session import default_partitions, start_spark  # noqa: E402
from notewatt.stages import StageClock  # noqa: E402
from notewatt.table_store import TableStore  # noqa: E402
from notewatt.tables import TABLES  # noqa: E402

log = logging.getLogger("notewatt.job")


def main(argv: list[str] | None = None) -> dict:
    clock = StageClock()
    config = parse_job_config(job_arguments(__doc__.splitlines()[0]), argv)
    run_id = config.run_id or f"run-{datetime.now(timezone.utc):%Y%m%d-%H%M%S}-{uuid.uuid4().hex[:6]}"
    attempt = int(time.time() * 1000)  # this job attempt: its Delta writes and its energy ledger
    impact = impact_factors(config.facility)  # a bad grid region fails here, before any inference
    check_preprocess(config.preprocess)  # so does Spark NLP asked for on the Spark 4 line
    with clock.stage("spark_start"):
        spark = start_spark(config.spark)
    store = TableStore(spark, config.output)
    ledger = ledger_folder(config, run_id, attempt)
    settings = {variant: partition_settings(config, run_id, variant, ledger) for variant in config.variants_in_use}
    slots = default_partitions(spark)
    partitions = fitted_partitions(spark, config, settings, config.spark.partitions or slots, slots)  # memory
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
        reuse = look_up_outputs(store, config.cache, routed, settings) if config.cache.enabled else None
        to_generate = (reuse.to_generate if reuse else routed).persist()
        total = to_generate.count()
    started_at, inference_start = datetime.now(timezone.utc), time.monotonic()
    prefetch(config.mlflow)  # MLflow (its store too) and the charts, made ready while the driver waits on inference
    with clock.stage("inference"), Progress(ledger, total, config.progress_s):
        outputs = run_routes(to_generate, settings, partitions, config.engine.sort_by_length)
    run = RunInfo(
        run_id, config.variant, config.selected_variant.model, started_at, time.monotonic() - inference_start, impact,
        preprocess_s=preprocess and preprocess.wall_s,
        preprocess_energy_j=preprocess and preprocess.energy_j(config.energy.cpu_watts_per_core),
    )

    inputs = RunInputs(screened, counts, reuse, reference)
    results = run_results(store, config, one_attempt_per_partition(outputs), inputs, run, ledger, clock)
    checks = gate_job_run(store, config.gate, run_id, (results.rollup, results.partition_wh_per_1000_notes))
    versions, tracked = publish(store, config, results, reuse, attempt, clock, checks, partitions)
    spark.catalog.clearCache()  # the run's persisted frames
    from notewatt.reporting.summary import print_summary  # loaded during inference (prefetch)

    print_summary(results.rollup, {name: store.location(TABLES[name]) for name in versions}, tracked, clock.seconds)
    if checks:
        print(gate_report(checks), flush=True)
    if config.gate.fail_job and not gate_passed(checks):
        raise SystemExit(1)
    return results.rollup | {"mlflow_run_id": tracked.run_id, "gate_passed": gate_passed(checks),
                             "stage_mlflow_s": clock.seconds["mlflow"]}


if __name__ == "__main__":
    run_job(main)
