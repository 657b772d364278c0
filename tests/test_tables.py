"""Delta writes per run: reruns replace a run's rows, repeated writes of one attempt are skipped."""

from notewatt.config import OutputConfig
from notewatt.tables import read_table, write_run_rows


def rows(spark, run_id, n):
    return spark.createDataFrame([(run_id, i) for i in range(n)], "run_id string, i int")


def test_rerun_replaces_only_its_own_rows_and_a_repeated_write_is_skipped(spark, tmp_path):
    output = OutputConfig(path=str(tmp_path))
    write_run_rows(spark, rows(spark, "a", 3), output, "t", "a", attempt=1)
    v = write_run_rows(spark, rows(spark, "b", 2), output, "t", "b", attempt=1)
    assert write_run_rows(spark, rows(spark, "b", 5), output, "t", "b", attempt=1) == v  # same attempt: skipped
    write_run_rows(spark, rows(spark, "b", 4), output, "t", "b", attempt=2)  # a rerun: replaces run b
    counts = {r.run_id: r["count"] for r in read_table(spark, output, "t").groupBy("run_id").count().collect()}
    assert counts == {"a": 3, "b": 4}
