"""Efficiency levers on the model ladder: each one alone, then combined, against naive generation on the same
corpus (the large variant in float32, one note per generate call, no prefix cache, no output reuse).

Every configuration is a real job run (Spark local mode, vLLM, Delta, MLflow) in one driver process, so the
Python workers and their engines are reused between runs (engine loads are not charged to notes anyway).
Prints a table (Wh per 1,000 notes and per 1,000 correct items, output tokens per joule, notes/s, F1 where gold
exists, ratio to naive) and writes JSON. On CPU hosts the energy is the labelled CPU+DRAM ESTIMATE.

    python bench/levers.py --min-mean-logprob T [--variant qwen-coder-1500m] [--small qwen-coder-500m]
        [--notes data/sample_notes/notes.jsonl] [--limit N] [--json bench/results/levers.json]
    python bench/levers.py --min-mean-logprob T --notes ../shared/data/mtsamples_subset.jsonl --limit 48 \
        --agreement --json bench/results/levers_mtsamples.json

T is the cascade's threshold as bench/cascade.py calibrated it for the same two variants on this machine.

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

from bench.job_runs import ROOT, cpu_flags  # noqa: E402
from notewatt.config import DROPPABLE_SECTIONS  # noqa: E402
from udfs.engine_memory import resolved_dtype  # noqa: E402

NAIVE_ENGINE = ["engine.batch_size=1", "engine.sort_by_length=false", "engine.enable_prefix_caching=false"]
BATCHED = ["engine.batch_size=null", *NAIVE_ENGINE[1:]]  # the whole partition in one generate call
DROP = f"preprocess.drop_sections=[{','.join(DROPPABLE_SECTIONS)}]"
TUNING = ROOT / "bench" / "results" / "tuning.json"  # the energy tuner's last search (bench/tuning.py)
COLUMNS = ("wh_per_1000_notes", "output_tokens_per_joule", "notes_per_s", "f1_overall", "correct_items",
           "wh_per_1000_correct_items", "json_valid_rate", "prompt_tokens", "output_tokens", "notes_reused",
           "prefix_cache_hit_rate", "escalated_notes", "escalation_rate", "dtype", "energy_status")


def tuned_engine_settings(path: Path = TUNING) -> list[str]:
    """The engine and preprocessing settings the tuner's last search chose (its variant and max_tokens left out:
    the ladder's row keeps the large variant and the bench's max_tokens)."""
    tuned = json.loads(path.read_text())["tuned_overrides"]
    return [o for o in tuned if o.split("=", 1)[0] in ("engine.batch_size", "engine.max_num_seqs",
                                                       "engine.sort_by_length", "engine.enable_prefix_caching",
                                                       "preprocess.drop_sections")]


def configurations(large: str, small: str, min_mean_logprob: float) -> list[tuple[str, list[str]]]:
    """(name, overrides) in run order. Naive is the large variant in float32, one note per generate call, no
    prefix cache, no output reuse; each lever alone is added to it (the CPU's native dtype) or to batching (the
    others, since one-by-one runs take hours on CPU). Output reuse is measured apart, on a rerun that reuses the
    output cache the row before it filled. The cascade is in the native dtype only (with both engines in float32,
    the 0.5B and the 1.5B need ~21.8 GiB in one worker: more than a 24 GiB host has available)."""
    fp32 = [f"variants.{large}.dtype=float32"]
    native = resolved_dtype("native")
    cascade = ["routing.mode=cascade", f"routing.small_variant={small}", f"routing.min_mean_logprob={min_mean_logprob}"]
    combined = [DROP, *cascade]  # over the job's defaults: batching, sorting, prefix cache
    reuse = [DROP, "cache.enabled=true"]
    rows = [("naive: float32, one note per generate call", [*fp32, *NAIVE_ENGINE])]
    if native != "float32":
        rows.append((f"native dtype ({native}), one note per generate call", NAIVE_ENGINE))
    return rows + [
        ("batching (float32)", [*fp32, *BATCHED]),
        ("batching + prefix caching (float32)", [*fp32, *BATCHED[:2], "engine.enable_prefix_caching=true"]),
        ("batching + drop sections (float32)", [*fp32, *BATCHED, DROP]),
        (f"tuned settings ({native})", tuned_engine_settings()),
        (f"combined ({native}): the defaults + drop sections + cascade", combined),
        (f"output reuse ({native}): the defaults + drop sections, cold output cache", reuse),
        (f"output reuse ({native}): its rerun (warm output cache)", reuse),
    ]


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


def measure(rows: list[tuple[str, list[str]]], notes: str, limit: int | None, agreement: bool, keep: bool,
            save, naive: dict | None = None) -> list[dict]:
    """Run every configuration in order (the first is naive unless `naive` is an earlier sitting's naive row);
    `save(results)` after each, so a failure keeps what was measured."""
    workdir = Path(tempfile.mkdtemp(prefix="notewatt-levers-"))
    extra = [f"corpus.limit={limit}"] if limit else []
    results = []
    try:
        for index, (name, overrides) in enumerate(rows):
            scoring = ["quality.reference_run_id=levers-0"] if agreement and index else []
            row = run_configuration([*overrides, *extra, *scoring], notes, workdir, f"levers-{index}")
            results.append(with_ratios({"configuration": name, "overrides": overrides, "loadavg_1m": os.getloadavg()[0]}
                                       | row, naive or (results[0] if results else row)))
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
    lines = ["| configuration | Wh / 1,000 notes | output tok / J | notes/s | F1 | F1 vs naive "
             "| Wh / 1,000 correct items | escalated | energy vs naive |", "| --- " * 9 + "|"]
    for r in results:
        ratio = "inf" if r["energy_ratio_to_naive"] is None else f"{r['energy_ratio_to_naive']:.2f}x less"
        lines.append(f"| {r['configuration']} | {_num(r['wh_per_1000_notes'])} | {_num(r['output_tokens_per_joule'])} "
                     f"| {_num(r['notes_per_s'])} | {_num(r['f1_overall'])} | {_num(r['f1_change_vs_naive'], '+.3f')} "
                     f"| {_num(r['wh_per_1000_correct_items'])} | {r['escalated_notes'] or '—'} | {ratio} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variant", default="qwen-coder-1500m", help="the large variant: naive and most rows")
    parser.add_argument("--small", default="qwen-coder-500m", help="the cascade's small tier")
    parser.add_argument("--min-mean-logprob", type=float, required=True,
                        help="the cascade's threshold, as bench/cascade.py calibrated it on this machine")
    parser.add_argument("--notes", default="data/sample_notes/notes.jsonl")
    parser.add_argument("--limit", type=int, default=None, help="only the first N notes")
    parser.add_argument("--json", default="bench/results/levers.json")
    parser.add_argument("--agreement", action="store_true", help="score F1 as agreement with the naive run")
    parser.add_argument("--keep", action="store_true", help="keep the runs' Delta tables and MLflow store")
    parser.add_argument("--rows", help="only these rows (comma-separated numbers in run order; 0 is naive)")
    parser.add_argument("--naive-from", type=Path, help="a sitting's JSON whose naive row the ratios use (--rows)")
    args = parser.parse_args()
    naive_runs = not args.rows or args.rows.split(",")[0] == "0"  # the sitting's first row is naive
    if not naive_runs and args.agreement:
        parser.error("--agreement scores against the naive run of the same sitting: --rows must start with 0")
    if not naive_runs and not args.naive_from:
        parser.error("--rows without 0 (naive) first needs --naive-from for the ratios")
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    header = {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "machine": platform.node(),
        "cores": os.cpu_count(), "notes": args.notes, "limit": args.limit,
        "f1": "agreement with the naive run" if args.agreement else "gold labels", "lscpu_flags": cpu_flags(),
        "variant": args.variant, "small": args.small, "min_mean_logprob": args.min_mean_logprob,
    }
    rows = configurations(args.variant, args.small, args.min_mean_logprob)
    if args.rows:
        rows = [rows[int(number)] for number in args.rows.split(",")]
        header["rows"] = args.rows
    naive = json.loads(args.naive_from.read_text())["results"][0] if args.naive_from else None
    if naive:
        header["naive_from"] = str(args.naive_from)

    def save(results: list[dict]) -> None:
        Path(args.json).write_text(json.dumps(header | {"results": results}, indent=2))

    print(table(measure(rows, str(Path(args.notes).resolve()), args.limit, args.agreement, args.keep, save,
                        naive)))


if __name__ == "__main__":
    main()
