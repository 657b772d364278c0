"""The job's SparkSession: configured from the YAML profile, with Delta Lake available."""

from __future__ import annotations

import os
import sys

from pyspark.sql import SparkSession

from notewatt.config import SparkConfig


def start_spark(config: SparkConfig) -> SparkSession:
    """Get or create the session. Under spark-submit the launcher has resolved Delta's jar already
    (conf/spark/spark-defaults.conf); under plain `python` the builder asks for it here."""
    from delta import configure_spark_with_delta_pip

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)  # workers run this interpreter (local mode)
    builder = SparkSession.builder.appName(config.app_name)
    for key, value in config.conf.items():
        builder = builder.config(key, value)
    return configure_spark_with_delta_pip(builder).getOrCreate()


def default_partitions(spark: SparkSession) -> int:
    """One partition per concurrent task slot: GPUs / GPUs-per-task on GPU clusters, else cores / cpus-per-task."""
    conf = spark.sparkContext.getConf()
    task_gpus = float(conf.get("spark.task.resource.gpu.amount", "0"))
    if task_gpus > 0:
        executors = int(conf.get("spark.executor.instances", "1"))
        executor_gpus = float(conf.get("spark.executor.resource.gpu.amount", "1"))
        return max(1, int(executors * executor_gpus / task_gpus))
    return max(1, spark.sparkContext.defaultParallelism // int(conf.get("spark.task.cpus", "1")))
