# Databricks notebook source
# MAGIC %md
# MAGIC # NoteWatt energy report
# MAGIC
# MAGIC Wh per 1,000 notes and tokens per joule per run, their spread over partitions, the variants' energy
# MAGIC against quality (Pareto front) and the trend over time, from NoteWatt's Delta tables (`run_rollup`,
# MAGIC `partition_energy`) and its MLflow runs. Only aggregate figures and ids: `note_abstractions` is not read.
# MAGIC
# MAGIC Every figure carries its energy status: runs whose energy was (partly) **estimated** (the host's CPU and
# MAGIC DRAM where RAPL is not readable, or no NVML or RAPL at all) are marked, hatched or hollow. Estimates rank
# MAGIC variants on one machine; they are not measurements. Method: `docs/energy.md`.
# MAGIC
# MAGIC `notebooks/energy_report.py` (Databricks source) and `notebooks/energy_report.ipynb` (Jupyter) are the same
# MAGIC notebook: edit the .py, then regenerate the .ipynb with `python scripts/sync_notebooks.py`.

# COMMAND ----------

# Parameters: edit here, or set these environment variables before starting the kernel.
import os

TABLES = os.environ.get("NOTEWATT_TABLES", "output/delta")  # folder of the Delta tables (project-relative or absolute)
CATALOG_SCHEMA = os.environ.get("NOTEWATT_CATALOG_SCHEMA", "")  # e.g. main.notewatt: read catalog tables instead
TRACKING_URI = os.environ.get("NOTEWATT_TRACKING_URI", "sqlite:///mlflow.db")  # "databricks" on Databricks
EXPERIMENT = os.environ.get("NOTEWATT_EXPERIMENT", "notewatt")  # a workspace path on Databricks

# COMMAND ----------

import sys
from pathlib import Path

sys.path.insert(0, str(Path.cwd().parent))  # the project root: this notebook runs from notebooks/

import mlflow
from IPython.display import Image, display
from pyspark.sql import SparkSession

from notewatt.cli import DEFAULT_PROFILE
from notewatt.comparison import pareto_front
from notewatt.config import OutputConfig, load_config, resolve_path
from notewatt.reporting.charts import (
    figure_png, pareto_chart, partition_distribution_chart, run_energy_chart, trend_chart,
)
from notewatt.reporting.notebook_frames import PARTITION_COLUMNS, RUN_COLUMNS, partition_figures, runs_with_quality
from notewatt.spark_session import start_spark
from notewatt.table_store import TableStore
from notewatt.tables import PARTITION_ENERGY, RUN_ROLLUP
from notewatt.tracking.experiment import resolve_tracking_uri


def local_spark() -> SparkSession:
    """Spark in this kernel: one core, a small driver, the local profile's Delta settings, UTC timestamps."""
    config = load_config([DEFAULT_PROFILE]).spark
    conf = config.conf | {"spark.master": "local[1]", "spark.driver.memory": "1g", "spark.ui.enabled": "false",
                          "spark.sql.shuffle.partitions": "1", "spark.sql.session.timeZone": "UTC"}
    return start_spark(config.model_copy(update={"app_name": "notewatt-energy-report", "conf": conf}))


def show(figure) -> None:
    display(Image(figure_png(figure)))


ON_DATABRICKS = "DATABRICKS_RUNTIME_VERSION" in os.environ
spark = SparkSession.builder.getOrCreate() if ON_DATABRICKS else local_spark()

# COMMAND ----------

store = TableStore(spark, OutputConfig(path=resolve_path(TABLES), catalog_schema=CATALOG_SCHEMA or None))
rollups = store.read(RUN_ROLLUP).select(*RUN_COLUMNS).toPandas()
partitions = store.read(PARTITION_ENERGY).select(*PARTITION_COLUMNS).toPandas()

mlflow.set_tracking_uri(resolve_tracking_uri(TRACKING_URI))
runs, quality_label = runs_with_quality(rollups, mlflow.search_runs(experiment_names=[EXPERIMENT]))
runs["on_front"] = pareto_front(runs)
parts = partition_figures(partitions, runs)
print(f"{len(runs)} run(s), {len(parts)} partition(s); quality metric: {quality_label}")

# COMMAND ----------

# MAGIC %md
# MAGIC ## Per run
# MAGIC Wh per 1,000 notes (lower is better) and output tokens per joule (higher is better). Hatched bars and
# MAGIC `[ESTIMATED]`, `[PARTLY ESTIMATED]` or `[INCOMPLETE]` labels: the run's energy is (partly) an estimate, or
# MAGIC misses a device that could not be read (a lower bound), not a measurement;
# MAGIC `measured_share` is the part of its joules read from NVML or RAPL (a GPU run without RAPL measures its GPUs
# MAGIC and estimates its host's CPU and DRAM).

# COMMAND ----------

show(run_energy_chart(runs))
runs[["label", "notes", "notes_ok", "wh_per_1000_notes", "output_tokens_per_joule", "tokens_per_wh_p50",
      "tokens_per_wh_p95", "energy_status", "measured_share", "energy_sources", "quality"]]

# COMMAND ----------

# MAGIC %md
# MAGIC ## Per partition
# MAGIC Each partition is one measurement window. A wide box means uneven partitions (note lengths, a slow
# MAGIC executor, a shared device); a single point is a run with one partition.

# COMMAND ----------

show(partition_distribution_chart(parts, list(runs["label"])))
parts.groupby("label")[["wh_per_1000_notes", "tokens_per_wh"]].describe()

# COMMAND ----------

# MAGIC %md
# MAGIC ## Variants: energy against quality
# MAGIC Quality is `f1_overall` where the runs logged it to MLflow (scored against gold or a reference run),
# MAGIC else json validity (notes_ok / notes). A run is on the Pareto front when no other run uses less energy
# MAGIC per 1,000 notes at the same or better quality.

# COMMAND ----------

show(pareto_chart(runs, quality_label))
runs.loc[runs["on_front"], ["label", "wh_per_1000_notes", "quality", "energy_status"]]

# COMMAND ----------

# MAGIC %md
# MAGIC ## Trend
# MAGIC Wh per 1,000 notes by run start time, one line per variant (hollow points: estimated energy).

# COMMAND ----------

show(trend_chart(runs))
if len(runs) < 2:
    print("One run so far: the trend needs at least two.")

# COMMAND ----------

if not ON_DATABRICKS:
    spark.stop()
