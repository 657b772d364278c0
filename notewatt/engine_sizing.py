"""How many engines a local-mode run starts at once: one per task slot it uses, but no more than the host's
available memory holds (udfs/engine_memory.py estimates each engine; a worker keeps one engine per variant of the
run). Engines that earlier runs of a long-lived application left in the workers are closed first. Fewer engines
means fewer partitions, and the idle slots' cores go to the engines that run as intra-op threads; none fitting
stops the run before any model loads."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import partial

from pyspark.sql import SparkSession

from notewatt.config import JobConfig
from udfs.abstract_partition import PartitionSettings
from udfs.engine_cache import release_worker
from udfs.engine_memory import EngineFootprint, EngineMemoryError, available_bytes, gib, resolved_dtype

log = logging.getLogger("notewatt.engine_sizing")


def worker_footprints(settings: dict[str, PartitionSettings]) -> list[EngineFootprint] | None:
    """The engines one worker holds for the run (a variant each), as CPU engines on this host; None where one
    cannot be sized (no local checkpoint, no fixed KV cache size)."""
    footprints = [s.engine.footprint(resolved_dtype(s.engine.dtype)) for s in settings.values()]
    return None if None in footprints else footprints


def engines_that_fit(per_worker: list[EngineFootprint], available: int) -> int:
    """Workers whose engines fit in `available` bytes; EngineMemoryError when not one does."""
    needed = sum(f.expected_bytes for f in per_worker)
    if needed > available:
        raise EngineMemoryError(f"{'; '.join(f.describe() for f in per_worker)}, and {gib(available)} GiB of memory "
                                "is available on this host: choose a smaller model or dtype, or a smaller KV cache "
                                "(engine.env.VLLM_CPU_KVCACHE_SPACE)")
    return available // needed


@dataclass(frozen=True)
class EngineSizing:
    partitions: int
    threads: int | None = None  # intra-op threads per engine; None: as the engine's environment sets them


def size_engines(spark: SparkSession, config: JobConfig, settings: dict[str, PartitionSettings],
                 partitions: int, slots: int) -> EngineSizing:
    """The run's partitions, lowered (in local mode, with engine.fit_host_memory) so that the engines running at
    once, one per partition up to the task slots, fit in the host's available memory; and each engine's threads:
    the slots' cores shared among the engines that run at once."""
    if not config.engine.fit_host_memory or not spark.sparkContext.master.startswith("local"):
        return EngineSizing(partitions)
    fit = fitted_partitions(spark, settings, partitions, slots)
    threads = max(1, slots // min(fit, slots))
    if threads > 1:
        log.info("%d engine(s) at once on %d task slots: %d threads each", min(fit, slots), slots, threads)
    return EngineSizing(fit, threads)


def fitted_partitions(spark: SparkSession, settings: dict[str, PartitionSettings], partitions: int,
                      slots: int) -> int:
    """`partitions`, or fewer where the host's available memory holds fewer engines than would run at once."""
    loaded = release_other_engines(spark, settings, slots)
    per_worker = worker_footprints(settings)
    if per_worker is None:
        log.warning("engine memory not sized: a variant has no local checkpoint or no fixed KV cache size")
        return partitions
    available = available_bytes() + loaded_bytes(loaded, settings)
    fit = engines_that_fit(per_worker, available)
    if min(partitions, slots) <= fit:
        return partitions
    log.info("memory: %s per worker, %s GiB available: %d engine(s) at once, %d partitions instead of %d",
             " + ".join(f.describe() for f in per_worker), gib(available), fit, fit, partitions)
    return fit


def release_other_engines(spark: SparkSession, settings: dict[str, PartitionSettings], slots: int) -> list[str]:
    """Close, in every Python worker (a barrier task per slot reaches each), the engines this run will not use;
    the keys of the run's engines the workers hold already, one per loaded engine."""
    keep = frozenset(s.engine.key for s in settings.values())
    tasks = spark.range(slots, numPartitions=slots).mapInPandas(
        partial(release_worker, keep=keep), "closed long, loaded array<string>", barrier=True).collect()
    closed = sum(row.closed for row in tasks)
    if closed:
        log.info("closed %d engine(s) of earlier runs in this application's workers", closed)
    return [key for row in tasks for key in row.loaded]


def loaded_bytes(loaded: list[str], settings: dict[str, PartitionSettings]) -> int:
    """The memory the workers' loaded engines of this run hold (as estimated): it is in use already, and those
    engines need none more, so a later run of the same engines (a tuner's trial, a notebook's rerun) still fits."""
    footprints = {s.engine.key: s.engine.footprint(resolved_dtype(s.engine.dtype)) for s in settings.values()}
    return sum(footprints[key].expected_bytes for key in loaded if footprints.get(key))
