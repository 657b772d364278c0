"""The run's energy, from its energy ledger alone: the closed entries accounted (udfs/energy/accounting.py) and
turned into the rows of partition_energy, engine_loads and device_energy, as Spark frames."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from pyspark.sql import DataFrame, SparkSession

from notewatt.config import JobConfig, resolve_path
from notewatt.tables import DEVICE_ENERGY, ENGINE_LOADS, PARTITION_ENERGY
from udfs.energy.accounting import RunEnergy, account, device_rows, window_row
from udfs.energy.ledger import read_entries

log = logging.getLogger("notewatt.energy_frames")
LEDGER_FOLDER = "_energy_ledger"


def ledger_root(config: JobConfig) -> str:
    """Where the runs' ledgers are: energy.ledger_path, else beside the Delta tables."""
    if config.energy.ledger_path:
        return resolve_path(config.energy.ledger_path).rstrip("/")
    return f"{resolve_path(config.output.path).rstrip('/')}/{LEDGER_FOLDER}"


def run_ledger(config: JobConfig, run_id: str) -> str:
    """The run's ledger folder: a folder in it per job attempt."""
    return f"{ledger_root(config)}/{run_id}"


def ledger_folder(config: JobConfig, run_id: str, job_attempt: int) -> str:
    """This job attempt's ledger folder, in the run's (a rerun of a run id, resuming it, is another attempt)."""
    return f"{run_ledger(config, run_id)}/{job_attempt}"


@dataclass(frozen=True)
class EnergyFrames:
    energy: RunEnergy  # what the ledger says of the run: kept windows, loads, discarded attempts, missing windows
    partitions: DataFrame  # partition_energy's rows (and notes, tokens: the roll-up's figures)
    loads: DataFrame  # engine_loads'
    devices: DataFrame  # device_energy's


def read_run_energy(folder: str, kept_window_ids: set[str]) -> RunEnergy:
    """The run's windows from its ledger (every job attempt's), the kept ones named by the note rows; unreadable:
    every figure unknown."""
    try:
        entries = read_entries(folder, recursive=True)
    except Exception as exc:
        log.warning("energy ledger %s could not be read (%s): the run's energy is unknown", folder,
                    type(exc).__name__)
        return RunEnergy(readable=False)
    energy = account(entries, kept_window_ids)
    if energy.missing:
        log.warning("energy ledger %s lacks %d of the %d windows whose notes the run kept: their energy is unknown",
                    folder, len(energy.missing), len(kept_window_ids))
    return energy


def energy_frames(spark: SparkSession, folder: str, kept_window_ids: set[str]) -> EnergyFrames:
    energy = read_run_energy(folder, kept_window_ids)
    windows = [*energy.partitions, *energy.loads]
    return EnergyFrames(
        energy,
        PARTITION_ENERGY.frame(spark, [window_row(e, energy.attributed) for e in energy.partitions]),
        ENGINE_LOADS.frame(spark, [window_row(e, energy.attributed) for e in energy.loads]),
        DEVICE_ENERGY.frame(spark, [r for e in windows for r in device_rows(e, energy.attributed)]),
    )
