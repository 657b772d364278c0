"""The job, with the first attempt of one partition failing after its first batch of notes: the standalone-cluster
test's retry. A test-only wrapper around the partition function; it is defined in __main__, so Spark ships it to
the executors by value and the product carries no test hook.

    spark-submit tests/failing_partition_job.py PARTITION [abstract_notes arguments]
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import notewatt.inference as inference  # noqa: E402
from jobs import abstract_notes  # noqa: E402
from notewatt.cli import run_job  # noqa: E402

FAILING = int(sys.argv.pop(1))
PARTITION_FUNCTION = inference.abstract_partition


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


inference.abstract_partition = fail_first_attempt
run_job(abstract_notes.main)
