"""Compare model variants on energy and clinical quality: run each over the same corpus, or gather earlier runs.

    spark-submit jobs/compare_variants.py --variants smollm2-135m-fp32,smollm2-135m-bf16 [abstract_notes options]
    spark-submit jobs/compare_variants.py --from-mlflow "tags.notewatt.comparison = 'cmp-...'" [--config ...]

Each variant is one abstract_notes run (its own MLflow run, nested under the comparison's parent run and
tagged notewatt.comparison). The comparison table (Wh per 1,000 notes, output tokens per J, notes/s, F1,
valid JSON, measured or estimated, Pareto frontier) goes to the console, to the variant_comparisons Delta
table and to the parent run as CSV, with a PNG Pareto chart.
"""

from __future__ import annotations

import argparse
import sys
import uuid
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the project root, where spark-submit starts in jobs/

import mlflow  # noqa: E402
import pandas as pd  # noqa: E402

from jobs import abstract_notes  # noqa: E402
from notewatt.cli import job_arguments, parse_job_config, run_job  # noqa: E402
from notewatt.comparison import comparison_table, format_table, quality_column, table_rows  # noqa: E402
from notewatt.config import ConfigError, JobConfig, with_overrides  # noqa: E402
from notewatt.runner import run  # noqa: E402
from notewatt.reporting.charts import pareto_chart  # noqa: E402
from notewatt.spark_session import start_spark  # noqa: E402
from notewatt.table_store import TableStore  # noqa: E402
from notewatt.tables import VARIANT_COMPARISONS  # noqa: E402
from notewatt.tracking.experiment import job_runs, use_experiment  # noqa: E402

COMPARISON_TAG = "notewatt.comparison"


def comparison_arguments() -> tuple[argparse.ArgumentParser, argparse.ArgumentParser]:
    """This job's own options, and abstract_notes' options for the rest of the command line."""
    own = argparse.ArgumentParser(description=__doc__.splitlines()[0], add_help=False, allow_abbrev=False)
    choice = own.add_mutually_exclusive_group(required=True)
    choice.add_argument("--variants", help="comma-separated variant names (keys of `variants` in the config)")
    choice.add_argument("--from-mlflow", metavar="FILTER", help="compare existing runs matching this MLflow filter")
    return own, job_arguments(abstract_notes.__doc__.splitlines()[0])


def run_each_variant(variants: list[str], config: JobConfig, comparison_id: str, spark) -> list[dict]:
    """One run per variant in one Spark session, each nested under the active parent run: their roll-ups."""
    rollups = []
    for variant in variants:
        result = run(with_overrides(config, [f"variant={variant}", f"run_id={comparison_id}-{variant}"]), spark)
        abstract_notes.report(result)
        rollups.append(result.rollup)
    return rollups


def main(argv: list[str] | None = None) -> pd.DataFrame:
    own, job_parser = comparison_arguments()
    args, job_args = own.parse_known_args(argv)
    config = parse_job_config(job_parser, job_args)
    comparison_id = f"cmp-{datetime.now(timezone.utc):%Y%m%d-%H%M%S}-{uuid.uuid4().hex[:6]}"
    use_experiment(config.mlflow)
    spark = start_spark(config.spark)
    with mlflow.start_run(run_name=comparison_id, tags={COMPARISON_TAG: comparison_id}):
        if args.variants:
            rows = run_each_variant(args.variants.split(","), config, comparison_id, spark)
        else:
            rows = job_runs(args.from_mlflow, config.mlflow.experiment)
        if not rows:
            raise ConfigError(f"no runs to compare: no job run matches {args.from_mlflow!r}")
        table = comparison_table(rows)
        mlflow.log_text(table.to_csv(index=False), "comparison/variant_comparison.csv")
        mlflow.log_figure(pareto_chart(table, quality_column(table)), "comparison/pareto.png")
    store = TableStore(spark, config.output)
    frame = store.spark.createDataFrame(table_rows(table, comparison_id), VARIANT_COMPARISONS.schema)
    store.write_rows(VARIANT_COMPARISONS, frame, comparison_id, attempt=0)
    print(f"Variant comparison {comparison_id} ({store.location(VARIANT_COMPARISONS)}):")
    print(format_table(table), flush=True)
    return table.assign(comparison_id=comparison_id)


if __name__ == "__main__":
    run_job(main)
