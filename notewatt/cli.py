"""Command line of the jobs: named options for the common keys, `key.path=value` for any other."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from notewatt.config import PROJECT_ROOT, JobConfig, load_config

DEFAULT_PROFILE = PROJECT_ROOT / "conf" / "local_cpu.yaml"
NAMED_OPTIONS = {"notes": "corpus.path", "output": "output.path", "run_id": "run_id", "variant": "variant"}


def job_arguments(description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--config", type=Path, action="append", help="YAML profile(s) over conf/defaults.yaml "
                        f"(default: {DEFAULT_PROFILE.relative_to(PROJECT_ROOT)}); repeatable")
    parser.add_argument("--notes", help="note corpus: JSONL/Parquet/CSV file or folder, or a Delta table path")
    parser.add_argument("--output", help="folder the Delta tables are written under")
    parser.add_argument("--run-id", help="run id (default: generated); rerunning an id replaces its rows")
    parser.add_argument("--variant", help="model variant, a key of `variants` in the config")
    parser.add_argument("overrides", nargs="*", metavar="key.path=value", help="any config key, e.g. engine.max_tokens=128")
    return parser


def parse_job_config(parser: argparse.ArgumentParser, argv: list[str] | None = None) -> JobConfig:
    args = parser.parse_intermixed_args(argv)  # options and key=value overrides in any order
    named = [f"{key}={json.dumps(getattr(args, opt))}" for opt, key in NAMED_OPTIONS.items() if getattr(args, opt) is not None]
    return load_config(args.config or [DEFAULT_PROFILE], [*named, *args.overrides])
