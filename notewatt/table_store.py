"""Where the tables live and every read and write of them: Delta tables under the output folder, or catalog
tables in `output.catalog_schema`. A write conforms the frame to the table's declared columns
(notewatt/tables.py) and never merges a schema silently: a declared column an existing table lacks is added
with ALTER TABLE (logged), and a declared column whose type differs fails the write."""

from __future__ import annotations

import logging

from pyspark.sql import DataFrame, SparkSession

from notewatt.config import OutputConfig, resolve_path
from notewatt.tables import SchemaError, Table

log = logging.getLogger("notewatt.tables")


class TableStore:
    def __init__(self, spark: SparkSession, output: OutputConfig):
        self.spark, self.output = spark, output

    def location(self, table: Table) -> str:
        """A catalog table name (`schema.name`) when configured, else a path under the output folder."""
        if self.output.uses_catalog:
            return f"{self.output.catalog_schema}.{table.name}"
        return f"{resolve_path(self.output.path).rstrip('/')}/{table.name}"

    def exists(self, table: Table) -> bool:
        from delta.tables import DeltaTable

        if self.output.uses_catalog:
            return self.spark.catalog.tableExists(self.location(table))
        return DeltaTable.isDeltaTable(self.spark, self.location(table))

    def read(self, table: Table) -> DataFrame:
        if self.output.uses_catalog:
            return self.spark.read.table(self.location(table))
        return self.spark.read.format("delta").load(self.location(table))

    def read_or_none(self, table: Table) -> DataFrame | None:
        """The table, or None before the first write creates it."""
        return self.read(table) if self.exists(table) else None

    def version(self, table: Table) -> int:
        return int(self._delta(table).history(1).select("version").first()[0])

    def write_rows(self, table: Table, frame: DataFrame, key_value: str, attempt: int) -> int:
        """Write the rows of one run (or comparison: `table.key` = `key_value`), replacing any an earlier attempt
        left; returns the table version. Idempotent per (key, table, attempt): Delta skips a repeat of the same
        txnAppId/txnVersion, while a later attempt (a larger `attempt`, e.g. the job's start time) replaces."""
        writer = self._once(table, frame, key_value, attempt)
        if self.exists(table):
            self._add_declared_columns(table)
            writer = writer.mode("overwrite").option("replaceWhere", f"{table.key} = '{key_value}'")
        else:
            writer = writer.mode("append")
        self._save(writer, table)
        return self.version(table)

    def append(self, table: Table, frame: DataFrame, key_value: str, version: int) -> None:
        """Append rows of one run once: Delta skips a write of a version it has seen for (key, table), or a lower
        one."""
        if self.exists(table):
            self._add_declared_columns(table)
        self._save(self._once(table, frame, key_value, version).mode("append"), table)

    def _once(self, table: Table, frame: DataFrame, key_value: str, version: int):
        """A Delta writer of the frame that commits once per (key, table, version) (txnAppId, txnVersion)."""
        return (table.conform(frame).write.format("delta")
                .option("txnAppId", f"notewatt:{key_value}:{table.name}").option("txnVersion", version))

    def upsert(self, table: Table, frame: DataFrame) -> None:
        """Insert the rows, or replace the table's rows of the same key (a Delta MERGE)."""
        self._merge(table, table.conform(frame), replace=True)

    def insert_new_keys(self, table: Table, frame: DataFrame) -> None:
        """Add the rows whose key the table lacks (a Delta MERGE: a rerun never duplicates a key)."""
        self._merge(table, table.conform(frame).dropDuplicates([table.key]), replace=False)

    def _merge(self, table: Table, rows: DataFrame, replace: bool) -> None:
        if not self.exists(table):
            self._save(rows.write.format("delta").mode("append"), table)
            return
        self._add_declared_columns(table)
        merge = self._delta(table).alias("t").merge(rows.alias("n"), f"t.{table.key} = n.{table.key}")
        if replace:
            merge = merge.whenMatchedUpdateAll()
        merge.whenNotMatchedInsertAll().execute()

    def _save(self, writer, table: Table) -> None:
        location = self.location(table)
        writer.saveAsTable(location) if self.output.uses_catalog else writer.save(location)

    def _delta(self, table: Table):
        from delta.tables import DeltaTable

        location = self.location(table)
        return DeltaTable.forName(self.spark, location) if self.output.uses_catalog else DeltaTable.forPath(self.spark, location)

    def _add_declared_columns(self, table: Table) -> None:
        """Bring an existing table to the declared columns: add those it lacks, fail on a changed type."""
        existing = {f.name: f.dataType for f in self.read(table).schema.fields}
        changed = [f.name for f in table.schema.fields if f.name in existing and existing[f.name] != f.dataType]
        if changed:
            raise SchemaError(f"{self.location(table)}: column(s) {changed} have another type than declared")
        added = [f for f in table.schema.fields if f.name not in existing]
        if added:
            columns = ", ".join(f"`{f.name}` {f.dataType.simpleString()}" for f in added)
            log.warning("adding declared column(s) %s to %s", [f.name for f in added], self.location(table))
            self.spark.sql(f"ALTER TABLE {self._sql_name(table)} ADD COLUMNS ({columns})")

    def _sql_name(self, table: Table) -> str:
        return self.location(table) if self.output.uses_catalog else f"delta.`{self.location(table)}`"
