"""The model ladder on this machine: every model in float32 and bfloat16 on the gold notes, then every model in its
native dtype on MTSamples, scored as agreement with the 1.5B's outputs there (no gold labels exist for them).

Each run is a spark-submit of the job with the default local profile (as many engines as the host's memory holds),
repeats interleaved; the resident memory of its Python workers is read from /proc while it runs (the peak of the
largest worker: its engine). Figures come from the run's roll-up and its MLflow metrics; no note text is written.

    python bench/ladder.py [--repeats 1] [--mtsamples ../shared/data/mtsamples_subset.jsonl] [--json ladder.json]
"""

from __future__ import annotations

import argparse
import statistics
import sys
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.job_runs import ROOT, WORK, cpu_flags, run_dir, run_job, write_json  # noqa: E402

LADDER = ("qwen-coder-1500m", "qwen-coder-500m", "smollm2-135m")
DTYPES = ("float32", "bfloat16")
GOLD_NOTES = ROOT / "data" / "sample_notes" / "notes.jsonl"
FIELDS = ("problems", "medications", "procedures", "allergies", "smoking_status", "medications_with_dose")
GIB = 2**30


class WorkerMemory:
    """The peak resident memory (VmHWM) of each Python worker under a spark-submit process, read as it runs."""

    def __init__(self):
        self.peaks: dict[int, int] = {}

    def __call__(self, pid: int) -> None:
        import psutil

        try:
            children = psutil.Process(pid).children(recursive=True)
        except psutil.Error:
            return
        for child in children:
            try:
                if "pyspark.daemon" in " ".join(child.cmdline()):
                    self.peaks[child.pid] = max(self.peaks.get(child.pid, 0), _hwm_bytes(child.pid))
            except (psutil.Error, OSError):
                continue

    @property
    def largest_gib(self) -> float:
        return max(self.peaks.values(), default=0) / GIB


def _hwm_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0


def ladder_run(label: str, corpus: Path, variant: str, dtype: str | None, max_tokens: int,
               extra: list[str] = ()) -> dict:
    """One run of the job for a variant (in `dtype`, or its configured one), with its figures and quality."""
    memory = WorkerMemory()
    overrides = [f"variant={variant}", *([f"variants.{variant}.dtype={dtype}"] if dtype else []), *extra]
    run = run_job(label, corpus, "local[2]", None, max_tokens, extra=overrides, watch=memory)
    rollup_path = run_dir(label) / "job_entry.json"
    metrics = _mlflow_metrics(rollup_path)
    return run | {"variant": variant, "dtype": metrics["dtype"], "peak_worker_rss_gib": memory.largest_gib,
                  "quality": {f: metrics.get(f"f1.{f}") for f in FIELDS}, "f1_overall": metrics.get("f1_overall"),
                  "json_valid_rate": metrics.get("json_valid_rate"), "engine_load_s_rollup": metrics["engine_load_s"],
                  "notes_per_s": metrics["notes_per_s"]}


def _mlflow_metrics(record: Path) -> dict:
    """The run's MLflow metrics (per-field F1) and its dtype and load time, from the run it logged."""
    import json

    import mlflow

    rollup = json.loads(record.read_text())["rollup"]
    run = mlflow.MlflowClient(tracking_uri=f"sqlite:///{WORK / 'mlflow.db'}").get_run(rollup["mlflow_run_id"])
    return run.data.metrics | {"dtype": rollup["dtype"], "engine_load_s": rollup["engine_load_s"],
                               "notes_per_s": rollup["notes_per_s"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--max-tokens", type=int, default=384)
    parser.add_argument("--mtsamples", type=Path, default=ROOT.parent / "shared" / "data" / "mtsamples_subset.jsonl")
    parser.add_argument("--json", default=f"ladder_{datetime.now():%Y%m%d_%H%M}.json")
    parser.add_argument("--skip-gold", action="store_true")
    args = parser.parse_args()
    stamp = datetime.now().strftime("%H%M%S")
    report = {"cpu_flags": cpu_flags(), "started": datetime.now().isoformat(), "gold": [], "mtsamples": []}
    for repeat in range(0 if args.skip_gold else args.repeats):
        for variant in LADDER:
            for dtype in DTYPES:
                label = f"ladder-{stamp}-{variant}-{dtype}-{repeat}"
                report["gold"].append(ladder_run(label, GOLD_NOTES, variant, dtype, args.max_tokens) | {"repeat": repeat})
                write_json(args.json, report)
    shared = WORK / "ladder-mtsamples" / "delta"  # one output folder: the agreement runs read the reference's rows
    reference = f"ladder-{stamp}-mts-{LADDER[0]}"
    for variant in LADDER:
        label = f"ladder-{stamp}-mts-{variant}"
        quality = [f"quality.reference_run_id={reference}"] if variant != LADDER[0] else []
        report["mtsamples"].append(ladder_run(label, args.mtsamples, variant, None, args.max_tokens,
                                              [f"output.path={shared}", *quality]))
        write_json(args.json, report)
    print_table(report)


def print_table(report: dict) -> None:
    def cell(rows, key, digits=3):
        values = [r[key] for r in rows if r[key] is not None]
        if not values:
            return "n/a"
        if len(values) == 1:
            return f"{values[0]:.{digits}f}"
        return f"{statistics.median(values):.{digits}f} ({min(values):.{digits}f}–{max(values):.{digits}f})"

    for corpus in ("gold", "mtsamples"):
        groups: dict[tuple, list] = {}
        for row in report[corpus]:
            groups.setdefault((row["variant"], row["dtype"]), []).append(row)
        print(f"\n{corpus}: variant | dtype | engines | Wh/1,000 notes | output tok/J | notes/s | F1 | "
              + " | ".join(FIELDS) + " | peak RSS GiB | engine load s")
        for (variant, dtype), rows in groups.items():
            fields = " | ".join(cell([{"v": r["quality"][f]} for r in rows], "v") for f in FIELDS)
            print(f"{variant} | {dtype} | {rows[0]['partitions']} | {cell(rows, 'wh_per_1000_notes', 2)} | "
                  f"{cell(rows, 'output_tokens_per_joule')} | {cell(rows, 'notes_per_s')} | {cell(rows, 'f1_overall')} | "
                  f"{fields} | {cell(rows, 'peak_worker_rss_gib', 1)} | {cell(rows, 'engine_load_s_rollup', 1)}")


if __name__ == "__main__":
    main()
