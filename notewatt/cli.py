"""Command line of the jobs: named options for the common keys, `key.path=value` for any other, and how a job
ends on a user's mistake: one line naming the setting or path, exit status 2 (tracebacks are for bugs)."""

from __future__ import annotations

import argparse
import difflib
import json
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import get_args

from pydantic import BaseModel, ValidationError

from notewatt.config import PROJECT_ROOT, ConfigError, JobConfig, load_config
from notewatt.corpus import CorpusError
from notewatt.run_state import RunStateError
from udfs.engine import EngineStartError
from udfs.engine_memory import EngineMemoryError
from udfs.gpu_binding import GpuBindingError
from udfs.energy.meters import MeteringError

DEFAULT_PROFILE = PROJECT_ROOT / "conf" / "local_cpu.yaml"
NAMED_OPTIONS = {"notes": "corpus.path", "output": "output.path", "run_id": "run_id", "variant": "variant"}
USER_ERRORS = (ConfigError, CorpusError, ValidationError, EngineStartError, EngineMemoryError, MeteringError,
               GpuBindingError, RunStateError)
USAGE_ERROR = 2


def job_arguments(description: str, resumable: bool = False) -> argparse.ArgumentParser:
    """The jobs' common options; `resumable` adds --resume RUN_ID (a run that must exist)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--config", type=Path, action="append", help="YAML profile(s) over conf/defaults.yaml "
                        f"(default: {DEFAULT_PROFILE.relative_to(PROJECT_ROOT)}); repeatable")
    parser.add_argument("--notes", help="note corpus: JSONL/Parquet/CSV file or folder, or a Delta table path")
    parser.add_argument("--output", help="folder the Delta tables are written under")
    parser.add_argument("--run-id", help="run id (default: generated); rerunning an id resumes it: only the notes it "
                        "has not committed are inferred")
    parser.add_argument("--variant", help="model variant, a key of `variants` in the config")
    if resumable:
        parser.add_argument("--resume", metavar="RUN_ID", help="resume this run (it must exist): only the notes it "
                            "has not committed are inferred")
    parser.add_argument("overrides", nargs="*", metavar="key.path=value", help="any config key, e.g. engine.max_tokens=128")
    return parser


def parse_job_config(parser: argparse.ArgumentParser, argv: list[str] | None = None) -> JobConfig:
    args = parser.parse_intermixed_args(argv)  # options and key=value overrides in any order
    named = [f"{key}={json.dumps(getattr(args, opt))}" for opt, key in NAMED_OPTIONS.items() if getattr(args, opt) is not None]
    if getattr(args, "resume", None):
        named += [f"run_id={json.dumps(args.resume)}", "resume=true"]
    return load_config(args.config or [DEFAULT_PROFILE], [*named, *args.overrides])


def run_job(main: Callable[[], object]) -> None:
    """Run a job's `main` as a program: its logging set up, its return value the exit status when it is a number
    (else 0), and a user error printed as one line (exit 2) instead of a traceback."""
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    logging.getLogger("notewatt").setLevel(logging.INFO)
    try:
        status = main()
    except USER_ERRORS as exc:
        print(f"notewatt: error: {user_message(exc)}", file=sys.stderr, flush=True)
        sys.exit(USAGE_ERROR)
    sys.exit(status if isinstance(status, int) else 0)


def user_message(exc: Exception) -> str:
    """One line for a user error; pydantic's errors say which setting, and suggest the one meant."""
    if not isinstance(exc, ValidationError):
        return " ".join(str(exc).split())
    return "; ".join(_setting_error(error) for error in exc.errors())


def _setting_error(error: dict) -> str:
    path = ".".join(str(part) for part in error["loc"])
    if error["type"] == "extra_forbidden":
        known = _fields_at(JobConfig, error["loc"][:-1])
        close = difflib.get_close_matches(str(error["loc"][-1]), known, n=1)
        hint = f" (did you mean {'.'.join([*map(str, error['loc'][:-1]), close[0]])}?)" if close else ""
        return f"unknown setting {path}{hint}"
    if error["type"] == "missing":
        return f"setting {path} is required"
    return f"setting {path}: {error['msg']} (got {error.get('input')!r})"


def _fields_at(model: type[BaseModel], loc: tuple) -> list[str]:
    """The setting names of the config section at `loc` (a variant's name in the path is a mapping key)."""
    for part in loc:
        field = model.model_fields.get(part)
        if field is None:
            continue
        nested = [t for t in (field.annotation, *get_args(field.annotation))
                  if isinstance(t, type) and issubclass(t, BaseModel)]
        if not nested:
            return []
        model = nested[-1]
    return list(model.model_fields)
