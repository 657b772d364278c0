"""The mapInPandas function: one Spark partition's notes -> prompts -> engine -> validated outputs,
inside one energy window.

It yields four kinds of rows in one schema (`row_type`): one `note` row per note, one `partition`
row with the partition's energy window and token totals, once per Python worker its `engine_load`
rows (the model load, and vLLM's import where the worker was warmed up: udfs/worker_warmup.py), kept out
of every partition's window, and a `device` row per device of each of those windows (`window` says which;
its GPUs and its host), which the driver uses to apportion devices shared by overlapping windows. Every window also leaves entries in the energy ledger,
so that an attempt whose rows Spark discards is still counted (udfs/energy_ledger.py).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from functools import partial
from itertools import chain
from typing import Callable, Iterator

import pandas as pd

from udfs.abstraction import ERROR, AbstractionValidator, combine_chunks
from udfs.energy import DeviceMeasurement, EnergyMonitor, Listener, Measurement
from udfs.energy_ledger import ENGINE_LOAD, PARTITION
from udfs.engine import Engine, EngineSpec, Generation
from udfs.engine_cache import cached_engine
from udfs.gpu_binding import bind_task_gpus, bound_addresses
from udfs.preprocess import SENTENCE_STARTS, NotePrompts, Preprocessing, note_prompts
from udfs.prompts import PromptTemplate
from udfs.task_energy import (
    NOTES_GENERATING, MeteringSettings, ledger_listener, meters_for, monitor_for,
)
from udfs.task_info import TaskInfo, current_task, log_to_stderr
from udfs.worker_warmup import warm_up_reported, warm_up_window

log = logging.getLogger("notewatt.partition")

OUTPUT_SCHEMA = """
    row_type string, run_id string, variant string, model string, dtype string,
    partition_id int, task_attempt int, host string, executor_id string, pid int,
    note_id string, note_type string, status string, abstraction string, detail string,
    input_truncated boolean, input_flags string, finish_reason string,
    notes long, prompt_tokens long, output_tokens long, cached_prompt_tokens long, chunks int, sections_dropped int,
    device string, device_name string, component string, energy_source string,
    start_ts double, end_ts double, duration_s double, energy_j double,
    avg_power_w double, peak_power_w double, idle_power_w double,
    samples int, sample_interval_s double, partial boolean, partial_reason string,
    window string, window_id string, scope string, counter_start_j double, counter_end_j double
"""
PANDAS_DTYPES = {"string": "object", "int": "Int32", "long": "Int64", "double": "float64", "boolean": "boolean"}
OUTPUT_DTYPES = {name: PANDAS_DTYPES[kind] for name, kind in (f.split() for f in OUTPUT_SCHEMA.split(","))}


def output_frame(rows: list[dict]) -> pd.DataFrame:
    """Rows in the output schema's columns and types; columns a row type does not use are null."""
    return pd.DataFrame(rows, columns=list(OUTPUT_DTYPES)).astype(OUTPUT_DTYPES)


@dataclass(frozen=True)
class PartitionSettings:
    """What every task needs, built on the driver and shipped with the function."""

    run_id: str
    variant: str
    model: str
    engine: EngineSpec
    template: PromptTemplate
    schema: dict
    max_tokens: int
    temperature: float
    batch_size: int | None
    preprocessing: Preprocessing
    metering: MeteringSettings
    engines_per_worker: int = 1  # the run's variants: engines a worker keeps loaded at once

    @property
    def prompt_budget_tokens(self) -> int | None:
        """Tokens a prompt may take (the context less the output), where the context length is configured."""
        max_model_len = self.engine.engine_args.get("max_model_len")
        return max_model_len - self.max_tokens if max_model_len else None


def abstract_partition(batches: Iterator[pd.DataFrame], settings: PartitionSettings) -> Iterator[pd.DataFrame]:
    """mapInPandas entry point on executors (the real vLLM engine)."""
    log_to_stderr()
    first = next((b for b in batches if len(b)), None)
    task = current_task()
    if first is None:  # an empty partition loads no engine and has no energy row; it reports a warm-up, if any
        yield from warm_up_rows(settings, task)
        warm_up_reported()
        return
    visible = bind_task_gpus(task.gpu_addresses)  # before the engine: CUDA then sees only the task's GPUs
    metered = meters_for(settings.metering, bound_addresses(visible))  # MeteringError when it must measure but cannot
    progress = dict.fromkeys(TOKEN_COUNTS, 0)  # the partition's counts so far, which its ledger entries carry
    listener = partial(ledger_listener, settings.metering, settings.run_id, settings.variant, task)
    imported = list(warm_up_rows(settings, task))  # before the engine is built: waits for the import to end
    loaded = cached_engine(settings.engine, metered, settings.metering, listener(ENGINE_LOAD),
                           settings.engines_per_worker)
    monitor = monitor_for(settings.metering, metered, loaded.idle_power_w)
    yield from imported
    if not loaded.load_reported:
        yield measurement_frame(ENGINE_LOAD, loaded.load, settings, task, loaded.engine.dtype,
                                **dict.fromkeys(TOKEN_COUNTS, 0))
    yield from abstract_batches(chain([first], batches), settings, loaded.engine, monitor, task,
                                listener(PARTITION, progress), progress)
    loaded.load_reported = True  # only now: a failed attempt's rows (its engine_load rows too) are discarded
    warm_up_reported()


def warm_up_rows(settings: PartitionSettings, task: TaskInfo) -> Iterator[pd.DataFrame]:
    """The worker's warm-up import of vLLM (udfs/worker_warmup.py) as an engine-load window, once it has ended,
    until a kept partition has reported it."""
    imported = warm_up_window(settings.metering.ledger_folder)
    if imported is not None:
        yield measurement_frame(ENGINE_LOAD, imported, settings, task, None, **dict.fromkeys(TOKEN_COUNTS, 0))


def abstract_batches(
    batches: Iterator[pd.DataFrame],
    settings: PartitionSettings,
    engine: Engine,
    monitor: EnergyMonitor,
    task: TaskInfo,
    listener: Listener | None = None,
    totals: dict[str, int] | None = None,
) -> Iterator[pd.DataFrame]:
    """Run every note through the engine inside one energy window; yield note rows, then the partition row.
    The window is ended (and its energy left in the ledger) also when the partition raises. `totals` (the
    counts so far, updated in place) is what the window's ledger entries report."""
    validator = AbstractionValidator(settings.schema)
    started = time.monotonic()
    totals = dict.fromkeys(TOKEN_COUNTS, 0) if totals is None else totals
    with monitor.measure(listener) as window:
        for batch in batches:
            for chunk in split_batch(batch, settings.batch_size):
                rows = abstract_chunk(chunk, settings, engine, validator, task, totals)
                totals[NOTES_GENERATING] = 0
                for name in TOKEN_COUNTS:
                    totals[name] += int(rows[name].sum())
                log.info(
                    "partition %d attempt %d: %d notes done, %.1f s elapsed",
                    task.partition_id, task.task_attempt, totals["notes"], time.monotonic() - started,
                )
                yield rows
    yield measurement_frame(PARTITION, window.measurement, settings, task, engine.dtype,
                            **{n: totals[n] for n in TOKEN_COUNTS})


TOKEN_COUNTS = ("notes", "prompt_tokens", "output_tokens", "cached_prompt_tokens")


def split_batch(batch: pd.DataFrame, size: int | None) -> Iterator[pd.DataFrame]:
    size = size or max(len(batch), 1)
    for start in range(0, len(batch), size):
        yield batch.iloc[start : start + size]


def abstract_chunk(
    chunk: pd.DataFrame, settings: PartitionSettings, engine: Engine, validator: AbstractionValidator, task: TaskInfo,
    totals: dict[str, int] | None = None,
) -> pd.DataFrame:
    """One engine call: each note's prompts (one per chunk of a long note), schema-guided generation,
    validation, and a note's chunk results merged into one row. While the call runs, `totals[NOTES_GENERATING]`
    holds its notes done so far (what the window's heartbeats report)."""
    note_types = chunk["note_type"] if "note_type" in chunk else [None] * len(chunk)
    flags = [",".join(f) if f is not None else "" for f in chunk.get("input_flags", [None] * len(chunk))]
    starts = chunk.get(SENTENCE_STARTS, [None] * len(chunk))  # Spark NLP's sentences (notewatt/nlp_stage.py)
    budget = engine.max_model_len - settings.max_tokens
    notes = [
        note_prompts(settings.template, str(text), note_type, engine, budget, settings.preprocessing,
                     None if sentences is None else [int(s) for s in sentences])
        for text, note_type, sentences in zip(chunk["text"], note_types, starts)
    ]
    identities = [
        _note_row(settings, task, engine.dtype, note_id, note_type, flag, note)
        for note_id, note_type, flag, note in zip(chunk["note_id"], note_types, flags, notes)
    ]
    prompts = [p for note in notes for p in note.prompts]
    try:
        generations = engine.generate(prompts, settings.max_tokens, settings.temperature, settings.schema,
                                      _notes_done_counter(totals, len(notes), len(prompts)))
    except Exception as exc:  # the batch's notes are marked, the partition goes on
        log.error("engine failed on a batch of %d notes in partition %d: %s", len(chunk), task.partition_id, type(exc).__name__)
        error = dict(status=ERROR, abstraction=None, detail=f"engine error: {type(exc).__name__}", finish_reason=None,
                     prompt_tokens=0, output_tokens=0, cached_prompt_tokens=0)
        return output_frame([identity | error for identity in identities])
    per_note = iter(generations)
    rows = []
    for identity, note in zip(identities, notes):
        gens = [next(per_note) for _ in note.prompts]
        checked = combine_chunks(
            [validator.validate(g.text, g.finish_reason, note.input_truncated) for g in gens], settings.schema
        )
        rows.append(identity | dict(status=checked.status, abstraction=checked.abstraction, detail=checked.detail)
                    | _token_counts(gens))
    return output_frame(rows)


def _notes_done_counter(totals: dict[str, int] | None, notes: int, prompts: int) -> Callable[[int], None] | None:
    """Counts a generate call's finished requests into its notes done (a long note has several prompts)."""
    if totals is None or not prompts:
        return None
    finished = 0

    def count(n: int) -> None:
        nonlocal finished
        finished += n
        totals[NOTES_GENERATING] = notes * finished // prompts

    return count


def _token_counts(gens: list[Generation]) -> dict:
    """A note's generation figures summed over its chunks; `length` if any chunk hit max_tokens."""
    reasons = [g.finish_reason for g in gens]
    return dict(
        finish_reason="length" if "length" in reasons else reasons[-1],
        prompt_tokens=sum(g.prompt_tokens for g in gens),
        output_tokens=sum(g.output_tokens for g in gens),
        cached_prompt_tokens=sum(g.cached_prompt_tokens for g in gens),
    )


def _note_row(settings: PartitionSettings, task: TaskInfo, dtype: str, note_id, note_type, flags: str,
              note: NotePrompts) -> dict:
    return _identity(settings, task, dtype) | dict(
        row_type="note", note_id=note_id, note_type=note_type, input_flags=flags, notes=1,
        input_truncated=note.input_truncated, chunks=len(note.prompts), sections_dropped=note.sections_dropped,
    )


def _identity(settings: PartitionSettings, task: TaskInfo, dtype: str | None) -> dict:
    return dict(
        run_id=settings.run_id, variant=settings.variant, model=settings.model, dtype=dtype,
        partition_id=task.partition_id, task_attempt=task.task_attempt,
        host=task.host, executor_id=task.executor_id, pid=task.pid,
    )


def measurement_frame(
    window: str, m: Measurement, settings: PartitionSettings, task: TaskInfo, dtype: str | None, **counts: int
) -> pd.DataFrame:
    """An energy window (a partition's, or the engine load's) with its note and token `counts` and the dtype of its
    engine (None for a warm-up's import): its summary row, then one row per device."""
    common = _identity(settings, task, dtype) | counts | dict(
        window=window, window_id=m.window_id,
        start_ts=m.start_ts, end_ts=m.end_ts, duration_s=m.duration_s, sample_interval_s=m.sample_interval_s,
        partial=m.partial, partial_reason=m.partial_reason,
    )
    summary = common | dict(
        row_type=window, device=m.device, device_name=m.device_name, energy_source=m.energy_source,
        energy_j=m.energy_j, avg_power_w=m.avg_power_w, peak_power_w=m.peak_power_w, idle_power_w=m.idle_power_w,
        samples=m.samples, scope=",".join(sorted({d.scope for d in m.devices})) or None,
    )
    return output_frame([summary, *[common | _device_fields(d, m.duration_s) for d in m.devices]])


def _device_fields(d: DeviceMeasurement, duration_s: float) -> dict:
    return dict(
        row_type="device", device=d.device, device_name=d.device_name, component=d.component, scope=d.scope,
        energy_source=d.energy_source, energy_j=d.energy_j, avg_power_w=d.energy_j / duration_s,
        peak_power_w=d.peak_power_w, idle_power_w=d.idle_power_w, samples=d.samples,
        counter_start_j=d.counter_start_j, counter_end_j=d.counter_end_j,
    )
