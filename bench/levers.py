"""Efficiency levers: each one alone, then combined, against naive one-by-one generation on the same corpus.

Every configuration is a real job run (Spark local mode, vLLM, Delta, MLflow) in one driver process, so the
Python workers and their engines are reused between runs (engine loads are not charged to notes anyway).
Prints a table (Wh per 1,000 notes, output tokens per joule, notes/s, F1 where gold exists, ratio to naive)
and writes JSON. On CPU hosts the energy is the labelled CPU+DRAM ESTIMATE.

    python bench/levers.py [--notes data/sample_notes/notes.jsonl] [--limit N] [--json bench/results/levers.json]
    python bench/levers.py --notes ../shared/data/mtsamples_subset.jsonl --limit 48 --agreement \
        --json bench/results/levers_mtsamples.json

`--agreement` (a corpus without gold labels): F1 is agreement with the naive run's outputs instead.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

NAIVE = ["engine.batch_size=1", "engine.sort_by_length=false", "engine.enable_prefix_caching=false"]
BATCHED = ["engine.batch_size=128", "engine.sort_by_length=false", "engine.enable_prefix_caching=false"]
DROP = "preprocess.drop_sections=[ANESTHESIA,ESTIMATED BLOOD LOSS,TOURNIQUET TIME,DRAINS,SPECIMENS,DISPOSITION]"
COMBINED = ["engine.batch_size=128", "engine.sort_by_length=true", "engine.enable_prefix_caching=true", DROP,
            "cache.enabled=true"]

# (name, overrides) in run order; the rerun reuses the output cache the row before it filled.
CONFIGURATIONS = [
    ("naive: one note per generate call", NAIVE),
    ("batch 8", ["engine.batch_size=8", *NAIVE[1:]]),
    ("batch 32", ["engine.batch_size=32", *NAIVE[1:]]),
    ("batch 128", BATCHED),
    ("batch 128 + sort by length", [*BATCHED[:1], "engine.sort_by_length=true", BATCHED[2]]),
    ("batch 128 + prefix caching", [*BATCHED[:2], "engine.enable_prefix_caching=true"]),
    ("batch 128 + drop sections", [*BATCHED, DROP]),
    ("combined, cold output cache", COMBINED),
    ("combined, rerun (warm output cache)", COMBINED),
]
COLUMNS = ("wh_per_1000_notes", "output_tokens_per_joule", "notes_per_s", "f1_overall", "json_valid_rate",
           "prompt_tokens", "output_tokens", "notes_reused", "prefix_cache_hit_rate", "energy_status")


def run_configuration(overrides: list[str], notes: str, workdir: Path, run_id: str) -> dict:
    import notewatt
    from notewatt.cli import DEFAULT_PROFILE
    from notewatt.config import load_config

    config = load_config([DEFAULT_PROFILE], [
        f"corpus.path={notes}", f"output.path={workdir / 'delta'}", f"run_id={run_id}",
        f"mlflow.tracking_uri=sqlite:///{workdir}/mlflow.db", f"mlflow.artifact_location={workdir}/artifacts",
        *overrides])
    started = time.perf_counter()
    rollup = notewatt.run(config).rollup
    return {c: rollup.get(c) for c in COLUMNS} | {"wall_s": time.perf_counter() - started}


def measure(notes: str, limit: int | None, agreement: bool, keep: bool, save) -> list[dict]:
    """Run every configuration in order; `save(results)` after each, so a failure keeps what was measured."""
    workdir = Path(tempfile.mkdtemp(prefix="notewatt-levers-"))
    extra = [f"corpus.limit={limit}"] if limit else []
    results = []
    try:
        for index, (name, overrides) in enumerate(CONFIGURATIONS):
            scoring = ["quality.reference_run_id=levers-0"] if agreement and index else []
            row = run_configuration([*overrides, *extra, *scoring], notes, workdir, f"levers-{index}")
            results.append(with_ratios({"configuration": name, "overrides": overrides, "loadavg_1m": os.getloadavg()[0]}
                                       | row, results[0] if results else row))
            save(results)
            print(f"{name}: {row['wh_per_1000_notes']:.3f} Wh/1000 notes ({row['energy_status']})", flush=True)
    finally:
        if not keep:
            shutil.rmtree(workdir, ignore_errors=True)
    return results


def with_ratios(row: dict, naive: dict) -> dict:
    """The row with its energy ratio to the naive run (how many times less) and its F1 change."""
    energy = row["wh_per_1000_notes"]
    f1, naive_f1 = row["f1_overall"], naive["f1_overall"]
    return row | {
        "energy_ratio_to_naive": naive["wh_per_1000_notes"] / energy if energy else None,
        "f1_change_vs_naive": f1 - naive_f1 if f1 is not None and naive_f1 is not None else None,
    }


def _num(value, fmt=".3f") -> str:
    return "n/a" if value is None else format(value, fmt)


def table(results: list[dict]) -> str:
    lines = ["| configuration | Wh / 1,000 notes | output tok / J | notes/s | F1 | F1 vs naive | energy vs naive |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for r in results:
        ratio = "inf" if r["energy_ratio_to_naive"] is None else f"{r['energy_ratio_to_naive']:.2f}x less"
        lines.append(f"| {r['configuration']} | {_num(r['wh_per_1000_notes'])} | {_num(r['output_tokens_per_joule'])} "
                     f"| {_num(r['notes_per_s'])} | {_num(r['f1_overall'])} | {_num(r['f1_change_vs_naive'], '+.3f')} "
                     f"| {ratio} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--notes", default="data/sample_notes/notes.jsonl")
    parser.add_argument("--limit", type=int, default=None, help="only the first N notes")
    parser.add_argument("--json", default="bench/results/levers.json")
    parser.add_argument("--agreement", action="store_true", help="score F1 as agreement with the naive run")
    parser.add_argument("--keep", action="store_true", help="keep the runs' Delta tables and MLflow store")
    args = parser.parse_args()
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    header = {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "machine": platform.node(),
        "cores": os.cpu_count(), "notes": args.notes, "limit": args.limit,
        "f1": "agreement with the naive run" if args.agreement else "gold labels",
    }

    def save(results: list[dict]) -> None:
        Path(args.json).write_text(json.dumps(header | {"results": results}, indent=2))

    print(table(measure(str(Path(args.notes).resolve()), args.limit, args.agreement, args.keep, save)))


if __name__ == "__main__":
    main()
