"""The mapInPandas function: one Spark partition's notes -> prompts -> engine -> validated outputs, inside one
energy window.

It yields one row per note; a note's row carries the `window_id` of the partition's energy window. Every window (the
partition's, and its worker's model load where this partition loads the engine) leaves its energy in the energy
ledger as it goes (udfs/energy/ledger.py), the run's only record of energy: the driver builds every energy figure
from the ledger and these window ids (notewatt/energy_frames.py), so an attempt whose rows Spark discards is counted
too, and never as the notes'.
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
from udfs.energy.ledger import ENGINE_LOAD, PARTITION
from udfs.energy.monitor import EnergyMonitor, Listener
from udfs.energy.task import NOTES_GENERATING, MeteringSettings, ledger_listener, meters_for, monitor_for
from udfs.engine import Engine, EngineSpec, Generation, use_intra_op_threads
from udfs.engine_cache import LoadedEngine, cached_engine, discard_engine
from udfs.gpu_binding import bind_task_gpus, bound_addresses
from udfs.preprocess import SENTENCE_STARTS, NotePrompts, Preprocessing, note_prompts
from udfs.prompts import PromptTemplate
from udfs.task_info import TaskInfo, current_task, log_to_stderr
from udfs.worker_warmup import wait_for_warm_up

log = logging.getLogger("notewatt.partition")

OUTPUT_SCHEMA = """
    run_id string, variant string, model string, dtype string, window_id string,
    partition_id int, task_attempt int, host string, executor_id string, pid int,
    note_id string, note_type string, status string, abstraction string, detail string,
    input_truncated boolean, input_flags string, finish_reason string,
    prompt_tokens long, output_tokens long, cached_prompt_tokens long, chunks int, sections_dropped int,
    mean_logprob double
"""
PANDAS_DTYPES = {"string": "object", "int": "Int32", "long": "Int64", "double": "float64", "boolean": "boolean"}
OUTPUT_DTYPES = {name: PANDAS_DTYPES[kind] for name, kind in (f.split() for f in OUTPUT_SCHEMA.split(","))}


def output_frame(rows: list[dict]) -> pd.DataFrame:
    """Note rows in the output schema's columns and types."""
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
    engine_threads: int | None = None  # the engine's intra-op threads (None: as its environment sets them)
    first_partition: int = 0  # the run's id of the stage's partition 0 (a run's slices number on; notewatt/commits.py)

    @property
    def prompt_budget_tokens(self) -> int | None:
        """Tokens a prompt may take (the context less the output), where the context length is configured."""
        max_model_len = self.engine.engine_args.get("max_model_len")
        return max_model_len - self.max_tokens if max_model_len else None


def abstract_partition(batches: Iterator[pd.DataFrame], settings: PartitionSettings) -> Iterator[pd.DataFrame]:
    """mapInPandas entry point on executors (the real vLLM engine)."""
    log_to_stderr()
    first = next((b for b in batches if len(b)), None)
    if first is None:  # an empty partition loads no engine and opens no window
        return
    task = current_task(settings.first_partition)
    visible = bind_task_gpus(task.gpu_addresses)  # before the engine: CUDA then sees only the task's GPUs
    metered = meters_for(settings.metering, bound_addresses(visible))  # MeteringError when it must measure but cannot
    progress = dict.fromkeys(TOKEN_COUNTS, 0)  # the partition's counts so far, which its ledger entries carry
    details = {"model": settings.model}  # its engine's dtype and state, once known, for the same entries
    listener = partial(ledger_listener, settings.metering, settings.run_id, settings.variant, task)
    wait_for_warm_up()  # never two imports of vLLM at once in a worker
    load_listener = listener(ENGINE_LOAD, engine=details)

    def engine(rebuild: bool = False) -> LoadedEngine:
        """This worker's engine for the run: loaded in a window of its own, or rebuilt after one that raised
        inside the partition's open window, which meters it (and whose entries then say so)."""
        return cached_engine(settings.engine, metered, settings.metering, load_listener, settings.run_id,
                             settings.engines_per_worker, details, in_open_window=rebuild)

    loaded = engine()
    use_intra_op_threads(settings.engine_threads)
    monitor = monitor_for(settings.metering, metered, loaded.idle_power_w)
    yield from abstract_batches(chain([first], batches), settings, lambda: engine(rebuild=True).engine, monitor,
                                task, listener(PARTITION, progress, details), progress, first_engine=loaded.engine)


def abstract_batches(
    batches: Iterator[pd.DataFrame],
    settings: PartitionSettings,
    engine: Callable[[], Engine],
    monitor: EnergyMonitor,
    task: TaskInfo,
    listener: Listener | None = None,
    totals: dict[str, int] | None = None,
    first_engine: Engine | None = None,
) -> Iterator[pd.DataFrame]:
    """Run every note through the engine (`engine()`: the current one) inside one energy window and yield the note
    rows, each with the window's id. The window is ended (and its energy left in the ledger) also when the partition
    raises. `totals` (the counts so far, updated in place) is what the window's ledger entries report."""
    validator = AbstractionValidator(settings.schema)
    started = time.monotonic()
    totals = dict.fromkeys(TOKEN_COUNTS, 0) if totals is None else totals
    current = first_engine
    with monitor.measure(listener) as window:
        for batch in batches:
            for chunk in split_batch(batch, settings.batch_size):
                current = current or engine()
                rows, engine_failed = abstract_chunk(chunk, settings, current, validator, task, window.window_id,
                                                     totals)
                if engine_failed:  # an engine that raised is not trusted again: the next batch gets a fresh one
                    discard_engine(settings.engine)
                    current = None
                totals[NOTES_GENERATING] = 0
                totals["notes"] += len(rows)
                for name in TOKEN_COUNTS[1:]:
                    totals[name] += int(rows[name].sum())
                log.info(
                    "partition %d attempt %d: %d notes done, %.1f s elapsed",
                    task.partition_id, task.task_attempt, totals["notes"], time.monotonic() - started,
                )
                yield rows


TOKEN_COUNTS = ("notes", "prompt_tokens", "output_tokens", "cached_prompt_tokens")


def split_batch(batch: pd.DataFrame, size: int | None) -> Iterator[pd.DataFrame]:
    size = size or max(len(batch), 1)
    for start in range(0, len(batch), size):
        yield batch.iloc[start : start + size]


def abstract_chunk(
    chunk: pd.DataFrame, settings: PartitionSettings, engine: Engine, validator: AbstractionValidator, task: TaskInfo,
    window_id: str | None = None, totals: dict[str, int] | None = None,
) -> tuple[pd.DataFrame, bool]:
    """One engine call: each note's prompts (one per chunk of a long note), schema-guided generation,
    validation, and a note's chunk results merged into one row; and whether the engine raised (the notes are then
    `error`, the partition goes on). While the call runs, `totals[NOTES_GENERATING]`
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
        _note_row(settings, task, engine.dtype, window_id, note_id, note_type, flag, note)
        for note_id, note_type, flag, note in zip(chunk["note_id"], note_types, flags, notes)
    ]
    prompts = [p for note in notes for p in note.prompts]
    try:
        generations = engine.generate(prompts, settings.max_tokens, settings.temperature, settings.schema,
                                      _notes_done_counter(totals, len(notes), len(prompts)))
    except Exception as exc:  # the batch's notes are marked, the partition goes on
        log.error("engine failed on a batch of %d notes in partition %d: %s", len(chunk), task.partition_id, type(exc).__name__)
        error = dict(status=ERROR, abstraction=None, detail=f"engine error: {type(exc).__name__}", finish_reason=None,
                     prompt_tokens=0, output_tokens=0, cached_prompt_tokens=0, mean_logprob=None)
        return output_frame([identity | error for identity in identities]), True
    per_note = iter(generations)
    rows = []
    for identity, note in zip(identities, notes):
        gens = [next(per_note) for _ in note.prompts]
        checked = combine_chunks(
            [validator.validate(g.text, g.finish_reason, note.input_truncated) for g in gens], settings.schema
        )
        rows.append(identity | dict(status=checked.status, abstraction=checked.abstraction, detail=checked.detail)
                    | _token_counts(gens))
    return output_frame(rows), False


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
    """A note's generation figures summed over its chunks; `length` if any chunk hit max_tokens; the mean
    log-probability of its output tokens (None where the engine gave none)."""
    reasons = [g.finish_reason for g in gens]
    output_tokens = sum(g.output_tokens for g in gens)
    known = output_tokens and all(g.logprob is not None for g in gens)
    return dict(
        finish_reason="length" if "length" in reasons else reasons[-1],
        prompt_tokens=sum(g.prompt_tokens for g in gens),
        output_tokens=output_tokens,
        cached_prompt_tokens=sum(g.cached_prompt_tokens for g in gens),
        mean_logprob=sum(g.logprob for g in gens) / output_tokens if known else None,
    )


def _note_row(settings: PartitionSettings, task: TaskInfo, dtype: str, window_id: str | None, note_id, note_type,
              flags: str, note: NotePrompts) -> dict:
    return dict(
        run_id=settings.run_id, variant=settings.variant, model=settings.model, dtype=dtype, window_id=window_id,
        partition_id=task.partition_id, task_attempt=task.task_attempt, host=task.host, executor_id=task.executor_id,
        pid=task.pid, note_id=note_id, note_type=note_type, input_flags=flags, input_truncated=note.input_truncated,
        chunks=len(note.prompts), sections_dropped=note.sections_dropped,
    )
