"""Driver side of energy windows: apportion shared devices, then give each window its attributed energy.

Device rows (one per device per window: its GPUs and its host) are grouped by physical device and
apportioned (udfs/shared_devices.py, run on the executors); each window's summary row (a partition's, or
an engine load's) then takes the sum of its devices' attributed energy, split into GPU and host, the share
of it that was measured rather than estimated, and what the devices read as `device_reading_j`.
"""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import StructField, StructType, _parse_datatype_string

from udfs.meters import GPU, HOST, MEASURED_SOURCES
from udfs.shared_devices import APPORTIONED_COLUMNS, apportion_frame


def attribute_devices(device_rows: DataFrame) -> DataFrame:
    """Device rows with `energy_j` apportioned among windows that overlapped on the same device."""
    added = [StructField(name, _parse_datatype_string(kind)) for name, kind in APPORTIONED_COLUMNS.items()]
    schema = StructType([f for f in device_rows.schema.fields if f.name not in APPORTIONED_COLUMNS] + added)
    return device_rows.groupBy("host", "device").applyInPandas(apportion_frame, schema)


def _energy_where(condition) -> F.Column:
    return F.sum(F.when(condition, F.col("energy_j")).otherwise(F.lit(0.0)))


def with_window_energy(windows: DataFrame, devices: DataFrame) -> DataFrame:
    """Window summary rows with their devices' attributed energy (GPU + host), the measured share of it,
    above-idle energy and sharing flags."""
    per_window = devices.groupBy("window_id").agg(
        F.sum("energy_j").alias("energy_j"),
        _energy_where(F.col("component") == GPU).alias("gpu_energy_j"),
        _energy_where(F.col("component") == HOST).alias("host_energy_j"),
        F.try_divide(_energy_where(F.col("energy_source").isin(*MEASURED_SOURCES)), F.sum("energy_j"))
        .alias("measured_share"),
        F.sum("device_reading_j").alias("device_reading_j"),
        (F.count("energy_above_idle_j") == F.count(F.lit(1))).alias("above_idle_available"),
        F.sum("energy_above_idle_j").alias("energy_above_idle_j"),
        F.bool_or("shared_device").alias("shared_device"),
        F.max("overlap_s").alias("overlap_s"),
    )
    above_idle = F.when(F.col("above_idle_available"), F.col("energy_above_idle_j"))
    return windows.drop("energy_j").join(per_window, "window_id", "left").withColumn("energy_above_idle_j", above_idle)
