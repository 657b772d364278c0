"""The job's SparkSession: configured from the YAML profile, with Delta Lake (and Spark NLP on the 3.5 line)."""

from __future__ import annotations

import os
import sys

from pyspark.sql import SparkSession

from notewatt.config import SparkConfig
from notewatt.spark_line import current_line


def start_spark(config: SparkConfig) -> SparkSession:
    """Get or create the session. Under spark-submit (or on Databricks) the launcher has the jars already
    (scripts/env.sh writes them into spark-submit's defaults); a JVM started from plain `python` gets the jars of
    this environment's Spark line here."""
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)  # workers run this interpreter (local mode)
    builder = SparkSession.builder.appName(config.app_name)
    jars = current_line().conf() if "PYSPARK_GATEWAY_PORT" not in os.environ else {}  # a JVM started from here
    for key, value in (jars | config.conf).items():
        builder = builder.config(key, value)
    return builder.getOrCreate()


def default_partitions(spark: SparkSession) -> int:
    """One partition per concurrent task slot: GPUs / GPUs-per-task on GPU clusters, else cores / cpus-per-task."""
    conf = spark.sparkContext.getConf()
    task_gpus = float(conf.get("spark.task.resource.gpu.amount", "0"))
    if task_gpus > 0:
        executors = int(conf.get("spark.executor.instances", "1"))
        executor_gpus = float(conf.get("spark.executor.resource.gpu.amount", "1"))
        return max(1, int(executors * executor_gpus / task_gpus))
    return max(1, spark.sparkContext.defaultParallelism // int(conf.get("spark.task.cpus", "1")))
