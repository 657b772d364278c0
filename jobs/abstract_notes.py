"""Abstract clinical notes with vLLM on Spark and report what it cost in energy.

    spark-submit jobs/abstract_notes.py [--config conf/local_cpu.yaml] [--notes PATH] [--output PATH]
                                        [--run-id ID] [--variant NAME] [key.path=value ...]

notes -> screening (quarantine) -> routing (small/large variant) -> output reuse (cache, repeated notes)
      -> prompts -> engine -> outputs + energy windows (on executors, udfs/) -> Delta -> roll-up (+ quality) -> MLflow.
"""

from __future__ import annotations

import logging
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the project root, where spark-submit starts in jobs/

from notewatt.cli import job_arguments, parse_job_config
from notewatt.config import resolve_path
from notewatt.corpus import read_notes
from notewatt.energy.retries import ledger_folder, retry_energy
from notewatt.energy.windows import attribute_devices, with_window_energy
from notewatt.gate import gate_passed, gate_report, load_gate_config
from notewatt.impact import impact_factors
from notewatt.inference import one_attempt_per_partition, partition_settings, rows_of, run_variants
from notewatt.note_checks import DEFAULT_MAX_CHARS, max_chars_for, reconcile, screen_notes
from notewatt.output_cache import look_up_outputs, update_cache, with_reused_notes
from notewatt.quality import Quality, score_quality
from notewatt.rollup import (
    RunInfo, route_rollup, run_rollup, with_input_counts, with_note_energy, with_quality, with_route_quality,
)
from notewatt.routing import route_notes
from notewatt.run_check import check_run, partition_wh_per_1000_notes
from notewatt.spark_session import default_partitions, start_spark
from notewatt.summary import print_summary
from notewatt.tables import (
    DEVICE_ENERGY, ENGINE_LOADS, NOTE_ABSTRACTIONS, NOTE_SCORES, PARTITION_ENERGY, QUARANTINE, ROUTE_ROLLUP,
    RUN_ROLLUP, contract_frame, table_location, write_run_rows,
)
from notewatt.tracking import job_params, log_job_run, route_metrics

log = logging.getLogger("notewatt.job")


def main(argv: list[str] | None = None) -> dict:
    config = parse_job_config(job_arguments(__doc__.splitlines()[0]), argv)
    run_id = config.run_id or f"run-{datetime.now(timezone.utc):%Y%m%d-%H%M%S}-{uuid.uuid4().hex[:6]}"
    attempt = int(time.time() * 1000)  # this job attempt: its Delta writes and its energy ledger
    impact = impact_factors(config.facility)  # a bad grid region fails here, before any inference
    spark = start_spark(config.spark)
    partitions = config.spark.partitions or default_partitions(spark)
    ledger = ledger_folder(config, run_id, attempt)
    settings = {variant: partition_settings(config, run_id, variant, ledger) for variant in config.variants_in_use}
    budget = settings[config.variant].prompt_budget_tokens
    log.info("run %s: variants %s, %d partitions", run_id, ", ".join(settings), partitions)

    notes = read_notes(spark, resolve_path(config.corpus.path), config.corpus.format)
    screened = screen_notes(
        notes.limit(config.corpus.limit) if config.corpus.limit else notes, run_id,
        max_chars_for(budget) if budget else DEFAULT_MAX_CHARS,
    ).persist()
    routed = route_notes(screened.clean, config.routing, config.variant)
    reuse = look_up_outputs(spark, config, routed, settings) if config.cache.enabled else None
    started_at, clock = datetime.now(timezone.utc), time.monotonic()
    outputs = run_variants(reuse.to_generate if reuse else routed, settings, partitions, config.engine.sort_by_length)
    run = RunInfo(run_id, config.variant, config.selected_variant.model, started_at, time.monotonic() - clock, impact)

    tables, quality = result_tables(spark, config, one_attempt_per_partition(outputs), screened, reuse, run, ledger)
    versions = write_tables(spark, config.output, tables, run_id, attempt)
    rollup_row = tables[RUN_ROLLUP].first().asDict()
    route_rows = [r.asDict() for r in tables[ROUTE_ROLLUP].collect()]
    if reuse:  # after everything that reads the reuse plan: it was looked up in the cache before this run
        update_cache(spark, config.output, config.cache.table, tables[NOTE_ABSTRACTIONS], reuse)
    checks = checks_for(spark, config, run_id, (rollup_row, partition_wh_per_1000_notes(tables[PARTITION_ENERGY])))
    tracked = log_job_run(
        config,
        job_params(config, partitions, spark.sparkContext.master),
        rollup_row,
        quality.metrics | route_metrics(route_rows),
        tables[PARTITION_ENERGY].select("partition_id", "energy_j", "output_tokens").toPandas(),
        versions,
        checks,
    )
    spark.catalog.clearCache()  # the run's persisted frames
    print_summary(rollup_row, {name: table_location(config.output, name) for name in versions}, tracked)
    if checks:
        print(gate_report(checks), flush=True)
    if config.gate.fail_job and not gate_passed(checks):
        raise SystemExit(1)
    return rollup_row | {"mlflow_run_id": tracked.run_id, "gate_passed": gate_passed(checks)}


def write_tables(spark, output, tables: dict, run_id: str, attempt: int) -> dict[str, int]:
    """Write the run's tables concurrently (each is its own Delta commit; most are small, so the commits'
    fixed costs dominate); returns each table's new version. A rerun of the run_id replaces its rows."""
    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = {name: pool.submit(write_run_rows, spark, frame, output, name, run_id, attempt)
                   for name, frame in tables.items()}
        return {name: future.result() for name, future in futures.items()}


def checks_for(spark, config, run_id: str, figures: tuple[dict, list[float]]) -> list:
    """The run's checks against the configured targets (and baseline run), from its roll-up row and
    partition figures."""
    if not config.gate.targets_file:
        return []
    gate = load_gate_config(resolve_path(config.gate.targets_file))
    return check_run(spark, config.output, run_id, gate, config.gate.baseline_run_id, figures)


def result_tables(spark, config, rows, screened, reuse, run: RunInfo, ledger: str) -> tuple[dict, Quality]:
    """The run's tables from its output rows: devices apportioned, windows and notes given energy, reused
    notes added, quality scored, and roll-ups (the run's and per route) that reconcile notes in with notes
    abstracted and quarantined, and count the energy of discarded attempts from the ledger."""
    device_rows = attribute_devices(rows_of(rows, "device")).persist()  # each frame below is read by several tables
    partition_rows = with_window_energy(rows_of(rows, "partition"), device_rows).persist()
    load_rows = with_window_energy(rows_of(rows, "engine_load"), device_rows).persist()
    kept = {r.window_id for r in partition_rows.select("window_id").union(load_rows.select("window_id")).collect()}
    run = replace(run, retry=retry_energy(ledger, kept))
    models = {v: config.variant_config(v).model for v in config.variants_in_use}
    note_rows = with_reused_notes(
        with_note_energy(rows_of(rows, "note"), partition_rows), reuse, run.run_id, models
    ).persist()
    quality = score_quality(spark, note_rows, config, run.run_id)
    counts = screened.counts()
    reconcile(counts.notes_in, note_rows.count(), counts.quarantined)
    rollup = run_rollup(note_rows, partition_rows, load_rows, run)
    rollup = with_input_counts(with_quality(rollup, quality.mode, quality.metrics), counts.notes_in, counts.quarantined)
    routes = with_route_quality(route_rollup(note_rows, partition_rows, run.run_id), route_f1(spark, config, note_rows, quality))
    tables = {
        NOTE_ABSTRACTIONS: contract_frame(note_rows, NOTE_ABSTRACTIONS),
        PARTITION_ENERGY: contract_frame(partition_rows, PARTITION_ENERGY),
        DEVICE_ENERGY: contract_frame(device_rows, DEVICE_ENERGY),
        ENGINE_LOADS: contract_frame(load_rows, ENGINE_LOADS),
        QUARANTINE: screened.quarantine,
        RUN_ROLLUP: rollup,
        ROUTE_ROLLUP: routes,
        **({NOTE_SCORES: quality.note_scores} if quality.note_scores is not None else {}),
    }
    return tables, quality


def route_f1(spark, config, note_rows, quality: Quality) -> dict[str, float | None]:
    """Each route's F1 (with one route, the run's own)."""
    if len(config.variants_in_use) == 1:
        return {config.variant: quality.metrics.get("f1_overall")}
    return {
        v: score_quality(spark, note_rows.where(note_rows.variant == v), config, "").metrics.get("f1_overall")
        for v in config.variants_in_use
    }


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    logging.getLogger("notewatt").setLevel(logging.INFO)
    main()
