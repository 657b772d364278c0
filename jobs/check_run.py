"""Regression gate: check a run against its targets and a baseline run; exit 1 when a check fails.

    spark-submit jobs/check_run.py --run-id RUN [--targets FILE]
        [--baseline-run-id RUN | --baseline-mlflow-run ID | --baseline-tag key=value] [--config ...] [key=value ...]

Reads the Delta tables the runs wrote (run_rollup, partition_energy); prints what passed and failed, so a
scheduler can stop a deployment on a non-zero exit. The targets file defaults to the config's
gate.targets_file (conf/targets.yaml), the baseline to its gate.baseline_run_id.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the project root, where spark-submit starts in jobs/

from notewatt.cli import job_arguments, parse_job_config, run_job  # noqa: E402
from notewatt.config import ConfigError, resolve_path  # noqa: E402
from notewatt.gate.checks import gate_passed, gate_report  # noqa: E402
from notewatt.gate.criteria import load_criteria  # noqa: E402
from notewatt.gate.run_checks import check_run  # noqa: E402
from notewatt.spark_session import start_spark  # noqa: E402
from notewatt.table_store import TableStore  # noqa: E402
from notewatt.tracking.experiment import baseline_run_id  # noqa: E402


def gate_arguments() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--targets", help="targets and tolerances (YAML; default: the config's gate.targets_file)")
    baseline = parser.add_mutually_exclusive_group()
    baseline.add_argument("--baseline-run-id", help="NoteWatt run id of the baseline")
    baseline.add_argument("--baseline-mlflow-run", help="MLflow run id of the baseline")
    baseline.add_argument("--baseline-tag", help="the latest MLflow run with this tag (key=value) is the baseline")
    return parser


def main(argv: list[str] | None = None) -> bool:
    args, job_args = gate_arguments().parse_known_args(argv)
    config = parse_job_config(job_arguments(__doc__.splitlines()[0]), job_args)
    if not config.run_id:
        raise ConfigError("--run-id is required: the run to check")
    targets = args.targets or config.gate.targets_file
    if not targets:
        raise ConfigError("no targets: pass --targets FILE or set gate.targets_file")
    baseline = (args.baseline_run_id or baseline_run_id(config.mlflow, args.baseline_mlflow_run, args.baseline_tag)
                or config.gate.baseline_run_id)
    store = TableStore(start_spark(config.spark), config.output)
    checks = check_run(store, config.run_id, load_criteria(resolve_path(targets)), baseline)
    print(f"Run {config.run_id}" + (f" against baseline {baseline}" if baseline else ""))
    print(gate_report(checks), flush=True)
    return gate_passed(checks)


if __name__ == "__main__":
    run_job(lambda: 0 if main() else 1)
