"""Who is running this partition: Spark task identity, host, executor and assigned GPUs; and where its log
lines go."""

from __future__ import annotations

import logging
import os
import socket
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class TaskInfo:
    partition_id: int
    task_attempt: int
    host: str
    executor_id: str
    pid: int
    gpu_addresses: tuple[str, ...]


def executor_id() -> str:
    """Best-effort executor id: Kubernetes and YARN say it in the environment, standalone in the work dir name."""
    if os.environ.get("SPARK_EXECUTOR_ID"):
        return os.environ["SPARK_EXECUTOR_ID"]
    if os.environ.get("CONTAINER_ID"):
        return os.environ["CONTAINER_ID"]
    cwd = Path.cwd()
    if cwd.name.isdigit() and cwd.parent.name.startswith("app-"):
        return cwd.name
    return "driver"  # local mode: tasks run inside the driver's JVM


def current_task(first_partition: int = 0) -> TaskInfo:
    """The running Spark task (partition 0, attempt 0, no GPUs when called outside Spark); its partition id counted
    from the run's `first_partition` for the stage."""
    from pyspark import TaskContext

    context = TaskContext.get()
    resources = context.resources() if context else {}
    gpus = tuple(resources["gpu"].addresses) if "gpu" in resources else ()
    return TaskInfo(
        partition_id=first_partition + (context.partitionId() if context else 0),
        task_attempt=context.attemptNumber() if context else 0,
        host=socket.gethostname(),
        executor_id=executor_id(),
        pid=os.getpid(),
        gpu_addresses=gpus,
    )


def log_to_stderr() -> None:
    """Python workers have no logging set up: send this package's progress lines to the executor's stderr."""
    logger = logging.getLogger("notewatt")
    if not logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
