"""Calibrate the cascade: pick routing.min_mean_logprob on half of the gold-labelled notes, report it on the other.

    spark-submit jobs/calibrate_cascade.py --small qwen-coder-500m [--margin 0.02] [--runs SMALL_RUN,LARGE_RUN]
                                           [abstract_notes options: --variant is the large tier]

Runs the small variant and the large one (the job's variant) over the corpus, each scored against its gold
(quality.gold_path), or takes two such runs already in the tables (--runs); then replays the cascade note by note at
every threshold (notewatt/cascade_calibration.py). The threshold is chosen on the calibration half of the notes
(least energy at F1 no more than --margin below the large variant's there) and reported on the other half; the
tables and the settings to use go to the console and to an MLflow run.
"""

from __future__ import annotations

import argparse
import sys
import uuid
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the project root, where spark-submit starts in jobs/

import mlflow  # noqa: E402

from jobs import abstract_notes  # noqa: E402
from notewatt.cascade_calibration import Calibration, calibrate, report_table, scored_notes  # noqa: E402
from notewatt.cli import job_arguments, parse_job_config, run_job  # noqa: E402
from notewatt.config import JobConfig, with_overrides  # noqa: E402
from notewatt.runner import run  # noqa: E402
from notewatt.spark_session import start_spark  # noqa: E402
from notewatt.table_store import TableStore  # noqa: E402
from notewatt.tracking.experiment import use_experiment  # noqa: E402

CALIBRATION_TAG = "notewatt.cascade_calibration"


def calibration_arguments() -> argparse.ArgumentParser:
    own = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    own.add_argument("--small", required=True, help="the small tier's variant")
    own.add_argument("--margin", type=float, default=0.02, help="F1 below the large variant's alone allowed")
    own.add_argument("--runs", help="SMALL_RUN_ID,LARGE_RUN_ID: two scored runs already in the tables")
    return own


def run_both(config: JobConfig, small: str, calibration_id: str, spark) -> tuple[str, str]:
    """The small and the large variant over the corpus (no cascade, no reuse): their run ids."""
    ids = []
    for tier, variant in (("small", small), ("large", config.variant)):
        run_id = f"{calibration_id}-{tier}"
        result = run(with_overrides(config, [f"variant={variant}", f"run_id={run_id}", "routing.small_variant=null",
                                             "cache.enabled=false"]), spark)
        abstract_notes.report(result)
        ids.append(run_id)
    return ids[0], ids[1]


def log_calibration(calibration: Calibration, small: str, margin: float, runs: tuple[str, str]) -> None:
    """The candidates, the report half's table and the chosen threshold, in the active MLflow run."""
    mlflow.log_params({"small_variant": small, "margin": margin, "small_run": runs[0], "large_run": runs[1],
                       "min_mean_logprob": calibration.threshold})
    mlflow.log_text(calibration.candidates.to_csv(index=False), "calibration/candidates.csv")
    mlflow.log_text(report_table(calibration).to_csv(index=False), "calibration/report_half.csv")
    for arm, replayed in calibration.report.items():
        mlflow.log_metrics({f"report.{arm}.f1": replayed.f1, f"report.{arm}.escalated": replayed.escalated,
                            f"report.{arm}.wh_per_1000_notes": replayed.wh_per_1000_notes})


def main(argv: list[str] | None = None) -> Calibration:
    args, job_args = calibration_arguments().parse_known_args(argv)
    config = parse_job_config(job_arguments(abstract_notes.__doc__.splitlines()[0]), job_args)
    config.variant_config(args.small)  # an unknown variant fails before anything runs
    calibration_id = f"cal-{datetime.now(timezone.utc):%Y%m%d-%H%M%S}-{uuid.uuid4().hex[:6]}"
    spark = start_spark(config.spark)
    use_experiment(config.mlflow)
    with mlflow.start_run(run_name=calibration_id, tags={CALIBRATION_TAG: calibration_id}):
        runs = tuple(args.runs.split(",")) if args.runs else run_both(config, args.small, calibration_id, spark)
        store = TableStore(spark, config.output)
        calibration = calibrate(scored_notes(store, runs[0]), scored_notes(store, runs[1]), args.margin)
        log_calibration(calibration, args.small, args.margin, runs)
    print(f"Cascade calibration {calibration_id}: {args.small} -> {config.variant}, runs {runs[0]} and {runs[1]}")
    numbers = "{:.4g}".format
    print("Candidates on the calibration half:\n" + calibration.candidates.to_string(index=False, float_format=numbers))
    print("On the report half (not used to choose):\n"
          + report_table(calibration).to_string(index=False, float_format=numbers))
    print(f"Use: routing.mode=cascade routing.small_variant={args.small} "
          f"routing.min_mean_logprob={'null' if calibration.threshold is None else repr(calibration.threshold)}",
          flush=True)
    return calibration


if __name__ == "__main__":
    run_job(main)
