"""Regression gate: check a run against its targets and a baseline run; exit 1 when a check fails.

    spark-submit jobs/check_run.py --run-id RUN [--targets conf/targets.yaml]
        [--baseline-run-id RUN | --baseline-mlflow-run ID | --baseline-tag key=value] [--config ...] [key=value ...]

Reads the Delta tables the runs wrote (run_rollup, partition_energy); prints what passed and failed, so a
scheduler can stop a deployment on a non-zero exit.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the project root, where spark-submit starts in jobs/

from notewatt.cli import job_arguments, parse_job_config  # noqa: E402
from notewatt.config import resolve_path  # noqa: E402
from notewatt.gate import gate_passed, gate_report, load_gate_config  # noqa: E402
from notewatt.run_check import baseline_from_mlflow, check_run  # noqa: E402
from notewatt.spark_session import start_spark  # noqa: E402
from notewatt.tracking import resolve_tracking_uri  # noqa: E402


def gate_arguments() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--targets", default="conf/targets.yaml", help="targets and tolerances (YAML)")
    baseline = parser.add_mutually_exclusive_group()
    baseline.add_argument("--baseline-run-id", help="NoteWatt run id of the baseline")
    baseline.add_argument("--baseline-mlflow-run", help="MLflow run id of the baseline")
    baseline.add_argument("--baseline-tag", help="the latest MLflow run with this tag (key=value) is the baseline")
    return parser


def main(argv: list[str] | None = None) -> bool:
    args, job_args = gate_arguments().parse_known_args(argv)
    config = parse_job_config(job_arguments(__doc__.splitlines()[0]), job_args)
    if not config.run_id:
        raise SystemExit("--run-id is required: the run to check")
    baseline = args.baseline_run_id or baseline_from_mlflow(
        resolve_tracking_uri(config.mlflow.tracking_uri), args.baseline_mlflow_run, args.baseline_tag,
        config.mlflow.experiment,
    )
    spark = start_spark(config.spark)
    checks = check_run(spark, config.output, config.run_id, load_gate_config(resolve_path(args.targets)), baseline)
    print(f"Run {config.run_id}" + (f" against baseline {baseline}" if baseline else ""))
    print(gate_report(checks), flush=True)
    return gate_passed(checks)


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    sys.exit(0 if main() else 1)
