"""Abstract clinical notes with vLLM on Spark and report what it cost in energy.

    spark-submit jobs/abstract_notes.py [--config conf/local_cpu.yaml] [--notes PATH] [--output PATH]
                                        [--run-id ID] [--variant NAME] [key.path=value ...]

notes -> screening (quarantine) -> prompts -> engine -> outputs + energy windows (on executors, udfs/)
      -> Delta -> roll-up (+ quality) -> MLflow.
"""

from __future__ import annotations

import logging
import sys
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the project root, where spark-submit starts in jobs/

from notewatt.cli import job_arguments, parse_job_config
from notewatt.config import resolve_path
from notewatt.corpus import read_notes
from notewatt.gate import gate_passed, gate_report, load_gate_config
from notewatt.impact import impact_factors
from notewatt.inference import one_attempt_per_partition, partition_settings, rows_of, run_inference
from notewatt.note_checks import DEFAULT_MAX_CHARS, max_chars_for, reconcile, screen_notes
from notewatt.quality import Quality, score_quality
from notewatt.rollup import RunInfo, run_rollup, with_input_counts, with_note_energy, with_quality
from notewatt.run_check import check_run
from notewatt.spark_session import default_partitions, start_spark
from notewatt.summary import print_summary
from notewatt.tables import (
    DEVICE_ENERGY, ENGINE_LOADS, NOTE_ABSTRACTIONS, NOTE_SCORES, PARTITION_ENERGY, QUARANTINE, RUN_ROLLUP,
    contract_frame, table_location, write_run_rows,
)
from notewatt.tracking import job_params, log_job_run
from notewatt.window_energy import attribute_devices, with_window_energy

log = logging.getLogger("notewatt.job")


def main(argv: list[str] | None = None) -> dict:
    config = parse_job_config(job_arguments(__doc__.splitlines()[0]), argv)
    run_id = config.run_id or f"run-{datetime.now(timezone.utc):%Y%m%d-%H%M%S}-{uuid.uuid4().hex[:6]}"
    impact = impact_factors(config.facility)  # a bad grid region fails here, before any inference
    spark = start_spark(config.spark)
    partitions = config.spark.partitions or default_partitions(spark)
    settings = partition_settings(config, run_id)
    log.info("run %s: variant %s, %d partitions", run_id, config.variant, partitions)

    notes = read_notes(spark, resolve_path(config.corpus.path), config.corpus.format)
    screened = screen_notes(
        notes.limit(config.corpus.limit) if config.corpus.limit else notes, run_id,
        max_chars_for(settings.prompt_budget_tokens) if settings.prompt_budget_tokens else DEFAULT_MAX_CHARS,
    ).persist()
    started_at, clock = datetime.now(timezone.utc), time.monotonic()
    outputs = run_inference(screened.clean, settings, partitions)
    run = RunInfo(run_id, config.variant, config.selected_variant.model, started_at, time.monotonic() - clock, impact)

    tables, quality = result_tables(spark, config, one_attempt_per_partition(outputs), screened, run)
    attempt = int(started_at.timestamp() * 1000)  # a rerun of the run_id replaces; a repeated write is skipped
    versions = {
        name: write_run_rows(spark, frame, config.output, name, run_id, attempt) for name, frame in tables.items()
    }
    rollup_row = tables[RUN_ROLLUP].first().asDict()
    checks = checks_for(spark, config, run_id)
    tracked = log_job_run(
        config,
        job_params(config, partitions, spark.sparkContext.master),
        rollup_row,
        quality.metrics,
        tables[PARTITION_ENERGY].select("partition_id", "energy_j", "output_tokens").toPandas(),
        versions,
        checks,
    )
    outputs.unpersist()
    screened.unpersist()
    print_summary(rollup_row, {name: table_location(config.output, name) for name in versions}, tracked)
    if checks:
        print(gate_report(checks), flush=True)
    if config.gate.fail_job and not gate_passed(checks):
        raise SystemExit(1)
    return rollup_row | {"mlflow_run_id": tracked.run_id, "gate_passed": gate_passed(checks)}


def checks_for(spark, config, run_id: str) -> list:
    """The run's checks against the configured targets (and baseline run), from the tables just written."""
    if not config.gate.targets_file:
        return []
    gate = load_gate_config(resolve_path(config.gate.targets_file))
    return check_run(spark, config.output, run_id, gate, config.gate.baseline_run_id)


def result_tables(spark, config, rows, screened, run: RunInfo) -> tuple[dict, Quality]:
    """The run's tables from its output rows: devices apportioned, windows and notes given energy,
    quality scored, and a roll-up that reconciles notes in with notes abstracted and quarantined."""
    device_rows = attribute_devices(rows_of(rows, "device"))
    partition_rows = with_window_energy(rows_of(rows, "partition"), device_rows)
    load_rows = with_window_energy(rows_of(rows, "engine_load"), device_rows)
    note_rows = with_note_energy(rows_of(rows, "note"), partition_rows)
    quality = score_quality(spark, note_rows, config, run.run_id)
    counts = screened.counts()
    reconcile(counts.notes_in, note_rows.count(), counts.quarantined)
    rollup = run_rollup(note_rows, partition_rows, load_rows, run)
    rollup = with_input_counts(with_quality(rollup, quality.mode, quality.metrics), counts.notes_in, counts.quarantined)
    tables = {
        NOTE_ABSTRACTIONS: contract_frame(note_rows, NOTE_ABSTRACTIONS),
        PARTITION_ENERGY: contract_frame(partition_rows, PARTITION_ENERGY),
        DEVICE_ENERGY: contract_frame(device_rows, DEVICE_ENERGY),
        ENGINE_LOADS: contract_frame(load_rows, ENGINE_LOADS),
        QUARANTINE: screened.quarantine,
        RUN_ROLLUP: rollup,
        **({NOTE_SCORES: quality.note_scores} if quality.note_scores is not None else {}),
    }
    return tables, quality


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    logging.getLogger("notewatt").setLevel(logging.INFO)
    main()
