"""The job, with the first attempt of one partition failing after its first batch of notes (the standalone-cluster
test's retry), and one executor lost once inference has ended, before the run's tables are built (the blocks it
held are gone: nothing after inference may rerun the engine). Test-only wrappers around the partition function and
the driver's step after inference; they are defined in __main__, so Spark ships the first to the executors by value
and the product carries no test hook.

    spark-submit tests/failing_partition_job.py PARTITION [abstract_notes arguments]
"""

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import notewatt.inference as inference  # noqa: E402
import notewatt.runner as runner  # noqa: E402
from jobs import abstract_notes  # noqa: E402
from notewatt.cli import run_job  # noqa: E402

FAILING = int(sys.argv.pop(1))
PARTITION_FUNCTION = inference.abstract_partition
RUN_RESULTS = runner.run_results


def fail_first_attempt(batches, settings):
    """The partition function; on attempt 0 of partition FAILING it raises once a batch of notes is out."""
    from pyspark import TaskContext

    context = TaskContext.get()
    failing = context.partitionId() == FAILING and context.attemptNumber() == 0
    rows = PARTITION_FUNCTION(batches, settings)
    try:
        for frame in rows:
            yield frame
            if failing and len(frame):  # a batch of note rows is out
                raise RuntimeError(f"injected test failure in partition {FAILING}, attempt 0")
    finally:
        rows.close()  # as Spark's worker does with a task that fails: the partition's window ends


def lose_an_executor_first(store, *args, **kwargs):
    """The driver's step after inference, once an executor of this application was killed (SIGKILL) and the driver
    has seen it go."""
    import psutil

    context = store.spark.sparkContext
    ours = [p for p in psutil.process_iter(["cmdline"]) if "CoarseGrainedExecutorBackend" in str(p.info["cmdline"])
            and context.applicationId in str(p.info["cmdline"])]
    cmdline = ours[0].info["cmdline"]
    lost = cmdline[cmdline.index("--executor-id") + 1]
    ours[0].kill()
    deadline = time.monotonic() + 120
    while lost in context._jsc.sc().getExecutorIds().mkString(",").split(",") and time.monotonic() < deadline:
        time.sleep(0.5)
    print(f"test: executor lost after inference: {lost}", flush=True)
    return RUN_RESULTS(store, *args, **kwargs)


inference.abstract_partition = fail_first_attempt
runner.run_results = lose_an_executor_first
run_job(abstract_notes.main)
