"""A run's state, for users and for a resumed run: one `run_status` row per run id (running, failed or complete;
its job attempts; what it runs), upserted when a job attempt begins and when it ends. A rerun of a run id resumes
it (notewatt/commits.py) and must be the same run: the same variants, routing, corpus and prompt version, or it
stops before any inference. A driver that was killed leaves its run `running`, its `updated_at` its attempt's
start; the notes it committed are in inference_outputs."""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass

from pyspark.sql import Row
from pyspark.sql import functions as F

from notewatt.config import JobConfig, resolve_path
from notewatt.table_store import TableStore
from notewatt.tables import RUN_STATUS

log = logging.getLogger("notewatt.run_state")
RUNNING, FAILED, COMPLETE = "running", "failed", "complete"


class RunStateError(ValueError):
    """A resume that cannot be: another run's settings under the run id, or a run id that does not exist."""


@dataclass(frozen=True)
class RunIdentity:
    """What makes a rerun the same run."""

    variants: str  # each variant in use: name=model/dtype/quantization
    routing: str
    corpus: str  # the corpus path (and its limit)
    prompt_version: str

    @classmethod
    def of(cls, config: JobConfig, prompt_version: str) -> RunIdentity:
        in_use = {name: config.variant_config(name) for name in config.variants_in_use}
        variants = ",".join(f"{name}={v.model}/{v.dtype}/{v.quantization or 'none'}" for name, v in in_use.items())
        corpus = resolve_path(config.corpus.path) + (f" (first {config.corpus.limit})" if config.corpus.limit else "")
        return cls(variants, config.routing.summary, corpus, prompt_version)


@dataclass
class RunState:
    store: TableStore
    run_id: str
    job_attempt: int
    identity: RunIdentity
    started_at: float | None = None
    attempts: int = 1

    def begin(self, resume: bool) -> None:
        """Record this job attempt as running; RunStateError when it resumes another run's settings, or when
        `resume` asks for a run id that was never run."""
        earlier = self._row()
        if earlier is None and resume:
            raise RunStateError(f"--resume: run {self.run_id} does not exist in {self.store.location(RUN_STATUS)}")
        if earlier is not None:
            differences = [f"{name} {getattr(earlier, name)!r} (this run: {mine!r})"
                           for name, mine in asdict(self.identity).items() if getattr(earlier, name) != mine]
            if differences:
                raise RunStateError(f"run {self.run_id} was run with {'; '.join(differences)}: a resumed run must be "
                                    "the same run; give this one another --run-id")
            self.attempts = earlier.attempts + 1
        self.started_at = time.time()
        self._write(RUNNING, notes_resumed=None)

    def end(self, status: str, notes_resumed: int | None = None, error: str | None = None) -> None:
        """Record how this job attempt ended; a failure to record it is logged, never raised over the run's own
        outcome (the row then still says `running`)."""
        try:
            self._write(status, notes_resumed, error)
        except Exception as exc:
            log.warning("run %s: its status %s could not be recorded (%s)", self.run_id, status, type(exc).__name__)

    def _row(self) -> Row | None:
        table = self.store.read_or_none(RUN_STATUS)
        return None if table is None else table.where(F.col("run_id") == self.run_id).first()

    def _write(self, status: str, notes_resumed: int | None, error: str | None = None) -> None:
        row = asdict(self.identity) | dict(
            run_id=self.run_id, status=status, job_attempt=self.job_attempt, attempts=self.attempts,
            attempt_started_at=self.started_at, updated_at=time.time(), notes_resumed=notes_resumed, error=error,
        )
        self.store.upsert(RUN_STATUS, RUN_STATUS.frame(self.store.spark, [row]))
