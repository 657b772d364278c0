"""The table registry and store: per-run writes are idempotent and replace a rerun; schema changes are explicit."""

import pytest

from notewatt.config import OutputConfig
from notewatt.table_store import TableStore
from notewatt.tables import RUN_TABLES, SchemaError, Table

RUNS = Table("runs", "run_id string, n bigint, score double")


def rows(spark, run_id, n, columns="run_id string, n bigint, score double"):
    return spark.createDataFrame([(run_id, i, float(i)) for i in range(n)], columns)


def store(spark, tmp_path):
    return TableStore(spark, OutputConfig(path=str(tmp_path)))


def counts(store_, table):
    return {r.run_id: r["count"] for r in store_.read(table).groupBy("run_id").count().collect()}


def test_write_run_rows_is_idempotent_per_attempt_and_replaces_a_rerun(spark, tmp_path):
    tables = store(spark, tmp_path)
    tables.write_rows(RUNS, rows(spark, "a", 3), "a", attempt=1)
    v = tables.write_rows(RUNS, rows(spark, "b", 2), "b", attempt=1)
    assert tables.write_rows(RUNS, rows(spark, "b", 5), "b", attempt=1) == v  # same attempt: skipped
    tables.write_rows(RUNS, rows(spark, "b", 4), "b", attempt=2)  # a rerun: replaces run b
    assert counts(tables, RUNS) == {"a": 3, "b": 4}


def test_a_frame_is_conformed_to_the_declared_columns(spark, tmp_path):
    tables = store(spark, tmp_path)
    extra = spark.createDataFrame([("a", 1, 2.0, "not declared")], "run_id string, n int, score double, x string")
    tables.write_rows(RUNS, extra, "a", attempt=1)
    assert tables.read(RUNS).schema == RUNS.schema  # order and types as declared, the extra column left out
    with pytest.raises(SchemaError, match=r"lacks declared column\(s\) \['score'\]"):
        tables.write_rows(RUNS, rows(spark, "b", 1).drop("score"), "b", attempt=1)


def test_a_declared_column_is_added_to_an_existing_table_on_purpose(spark, tmp_path, caplog):
    tables = store(spark, tmp_path)
    tables.write_rows(RUNS, rows(spark, "a", 2), "a", attempt=1)
    wider = Table("runs", RUNS.ddl + ", note string")
    with caplog.at_level("WARNING", logger="notewatt.tables"):
        tables.write_rows(wider, rows(spark, "b", 1).selectExpr("*", "'hi' AS note"), "b", attempt=1)
    assert "adding declared column(s) ['note']" in caplog.text
    assert {r.run_id: r.note for r in tables.read(wider).collect()} == {"a": None, "b": "hi"}


def test_a_changed_type_fails_and_an_undeclared_old_column_is_left_alone(spark, tmp_path):
    tables = store(spark, tmp_path)
    tables.write_rows(Table("runs", RUNS.ddl + ", old string"), rows(spark, "a", 1).selectExpr("*", "'x' AS old"),
                      "a", attempt=1)
    tables.write_rows(RUNS, rows(spark, "b", 1), "b", attempt=1)  # a column no longer written stays, null
    assert {r.run_id: r.old for r in tables.read(RUNS).collect()} == {"a": "x", "b": None}
    with pytest.raises(SchemaError, match=r"\['score'\] have another type"):
        tables.write_rows(Table("runs", "run_id string, n bigint, score string"), rows(spark, "c", 1), "c", attempt=1)


def test_insert_new_keys_never_duplicates_a_key(spark, tmp_path):
    tables, cache = store(spark, tmp_path), Table("cache", "k string, v string", key="k")
    frame = lambda *pairs: spark.createDataFrame(list(pairs), "k string, v string")  # noqa: E731
    tables.insert_new_keys(cache, frame(("a", "1"), ("b", "2"), ("a", "dup")))
    tables.insert_new_keys(cache, frame(("b", "changed"), ("c", "3")))
    assert sorted((r.k, r.v) for r in tables.read(cache).collect()) in (
        [("a", "1"), ("b", "2"), ("c", "3")], [("a", "dup"), ("b", "2"), ("c", "3")])


def test_every_run_table_is_keyed_by_a_declared_column():
    assert all(t.key in t.columns for t in RUN_TABLES)
