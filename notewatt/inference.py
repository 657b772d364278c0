"""Driver side of inference: ship settings to the executors and run the mapInPandas stage, slice by slice, each
slice's rows committed (notewatt/commits.py)."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial, reduce
from pathlib import Path

import yaml
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from notewatt.commits import SliceCommits, slice_of
from notewatt.config import JobConfig, resolve_path
from udfs.abstract_partition import OUTPUT_SCHEMA, PartitionSettings, abstract_partition
from udfs.engine import EngineSpec, EngineStartError
from udfs.gpu_binding import GpuBindingError
from udfs.energy.meters import MeteringError
from udfs.preprocess import SENTENCE_STARTS, Preprocessing, normalised_headers
from udfs.prompts import PromptTemplate
from udfs.energy.task import MeteringSettings
from udfs.worker_warmup import warm_up_worker

log = logging.getLogger("notewatt.inference")
INFERENCE_JOB_GROUP = "notewatt-inference"  # the inference stage's Spark jobs (the tuner's pruner cancels them)


class InferenceCancelled(RuntimeError):
    """The inference stage's job group was cancelled (the tuner's pruner stopped a trial)."""


def partition_settings(
    config: JobConfig, run_id: str, variant_name: str | None = None, ledger_folder: str | None = None
) -> PartitionSettings:
    """What the tasks of one variant need (the job's variant unless named: routing runs two); their windows
    leave their energy in `ledger_folder` (None: no ledger)."""
    variant_name = variant_name or config.variant
    variant = config.variant_config(variant_name)
    local_model = resolve_path(variant.model)
    engine = EngineSpec(
        model=local_model if Path(local_model).exists() else variant.model,  # else a name vLLM resolves
        dtype=variant.dtype,
        quantization=variant.quantization,
        engine_args=config.engine_args_for(variant_name),
        structured_outputs_backend=config.engine.structured_outputs_backend,
        compact_json=variant.compact_json,
        env=dict(config.engine.env),
    )
    return PartitionSettings(
        run_id=run_id,
        variant=variant_name,
        model=variant.model,
        engine=engine,
        template=PromptTemplate.from_mapping(yaml.safe_load(Path(resolve_path(config.prompt.template)).read_text())),
        schema=json.loads(Path(resolve_path(config.prompt.schema_file)).read_text()),
        max_tokens=config.engine.max_tokens,
        temperature=config.engine.temperature,
        batch_size=config.engine.batch_size,
        preprocessing=Preprocessing(
            normalised_headers(config.preprocess.drop_sections), config.preprocess.chunk_long_notes,
            config.preprocess.engine,
        ),
        metering=MeteringSettings(
            sample_interval_s=config.energy.sample_interval_s,
            cpu_watts_per_core=config.energy.cpu_watts_per_core,
            dram_watts_per_gib=config.energy.dram_watts_per_gib,
            require_measured=config.energy.require_measured,
            heartbeat_s=config.energy.heartbeat_s,
            ledger_folder=ledger_folder,
        ),
        engines_per_worker=len(config.variants_in_use),
    )


def warm_up_workers(spark: SparkSession, settings: PartitionSettings, tasks: int) -> None:
    """Start vLLM's import in the Python workers of `tasks` tasks (udfs/worker_warmup.py) and return at once: the
    workers import while the driver reads, screens and routes the notes, and their partitions reuse them."""
    frame = spark.range(tasks, numPartitions=tasks).mapInPandas(partial(warm_up_worker, settings=settings), "id long")
    frame.collect()


def run_inference(notes: DataFrame, settings: PartitionSettings, partitions: int, commits: SliceCommits,
                  sort_by_length: bool = True) -> DataFrame:
    """Run the engine over every note the run has not committed through this variant, slice by slice, each slice's
    rows committed as it ends (notewatt/commits.py); the rows of all the notes, read back from the commits, so that
    no later action reruns the engine."""
    pending = commits.pending(notes, settings.variant).persist()
    count = pending.count()
    slices = commits.slices(count, partitions) if count else 0
    for number in range(slices):
        sliced = pending.where(slice_of(slices) == number) if slices > 1 else pending
        stage = inference_stage(sliced, commits.settings_for_slice(settings, partitions), partitions, sort_by_length)
        with inference_job(notes.sparkSession):
            commits.commit(stage, number)
        log.info("%s: slice %d of %d committed", settings.variant, number + 1, slices)
    pending.unpersist()
    return commits.rows(notes, settings.variant)


def inference_stage(notes: DataFrame, settings: PartitionSettings, partitions: int, sort_by_length: bool) -> DataFrame:
    """The notes spread over `partitions` tasks that run the engine (lazy: the commit's write runs it).
    Sorted by length within each partition, a generate call's notes have similar lengths (less padding and
    fewer stragglers in a batch)."""
    columns = [c for c in ("note_id", "text", "note_type", "input_flags", SENTENCE_STARTS) if c in notes.columns]
    spread = notes.select(*columns).repartition(partitions)
    if sort_by_length:
        spread = spread.sortWithinPartitions(F.length("text"), "note_id")
    return spread.mapInPandas(partial(abstract_partition, settings=settings), OUTPUT_SCHEMA)


@contextmanager
def inference_job(spark: SparkSession) -> Iterator[None]:
    """Spark jobs run by the block are the inference stage's (a job group the tuner's pruner may cancel); a task
    that could not start the engine or its meters fails it with one line instead of the executor's traceback."""
    context = spark.sparkContext
    context.setJobGroup(INFERENCE_JOB_GROUP, "NoteWatt inference")
    try:
        yield
    except Exception as exc:
        failure = task_start_failure(str(exc))
        if failure:
            raise failure from None
        if f"cancelled job group {INFERENCE_JOB_GROUP}" in str(exc):
            raise InferenceCancelled(f"the inference stage was cancelled ({INFERENCE_JOB_GROUP})") from None
        raise
    finally:
        context.setLocalProperty("spark.jobGroup.id", None)
        context.setLocalProperty("spark.job.description", None)


def run_routes(routed: DataFrame, settings: dict[str, PartitionSettings], partitions: int, commits: SliceCommits,
               sort_by_length: bool) -> DataFrame:
    """Each route's notes (the `variant` column routing set) through that variant's engines, one stage per
    variant; a worker loads a variant's engine the first time it gets that variant's notes. A static route
    escalates no note (`escalation_reason` null; notewatt/cascade.py)."""
    outputs = [
        run_inference(routed.where(F.col("variant") == name), variant, partitions, commits, sort_by_length)
        for name, variant in settings.items()
    ]
    return reduce(DataFrame.unionByName, outputs).withColumn("escalation_reason", F.lit(None).cast("string"))


def task_start_failure(error_text: str) -> EngineStartError | MeteringError | GpuBindingError | None:
    """What stopped the tasks before inference (the engine could not start, energy.require_measured and the task
    could not be metered, or a worker bound to other GPUs), found in a Spark task failure's text; None if
    something else failed."""
    for error in (MeteringError, EngineStartError, GpuBindingError):
        found = re.search(rf"{error.__name__}: (.+)", error_text)
        if found:
            return error(found.group(1).strip())
    return None
