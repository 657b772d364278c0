"""What committing in slices costs, and what a resume saves: the job on the same corpus with its notes committed in
one slice and in slices (output.slice_notes_per_task), interleaved, then one run killed (SIGKILL of spark-submit and
its processes) once half its slices are committed and rerun under its run id (a resume).

    python bench/commits.py [--notes 256] [--slice-notes-per-task 64] [--repeats 3] [--max-tokens 64]
                            [--variant smollm2-135m-fp32] [--json commits.json]

Every run is its own spark-submit (bench/job_runs.py); end-to-end time, the inference stage and Wh per 1,000 notes
(the job's energy: the CPU+DRAM ESTIMATE on hosts without NVML or RAPL) per run, medians (min-max) per setting,
and what a slice boundary costs: each worker's idle time between its windows of consecutive slices.
"""

from __future__ import annotations

import argparse
import signal
import statistics
import sys
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.job_runs import cpu_flags, fmt, make_corpus, run_dir, run_job, spread, write_json  # noqa: E402
from notewatt.config import OutputConfig  # noqa: E402
from notewatt.tables import INFERENCE_OUTPUTS, PARTITION_ENERGY, Table  # noqa: E402

MASTER = "local[2]"
PARTITIONS = 2
ONE_SLICE = 1_000_000  # notes per task: every run's notes in one slice


def run_table(label: str, table: Table) -> Path:
    """Where a bench run (bench/job_runs.py) keeps one of its Delta tables."""
    return run_dir(label) / "delta" / table.name


def committed_slices(label: str) -> int:
    """Slices a run has committed so far: inference_outputs' Delta commits."""
    log = run_table(label, INFERENCE_OUTPUTS) / "_delta_log"
    return len(list(log.glob("*.json"))) if log.exists() else 0


def slice_boundaries_s(label: str) -> list[float]:
    """Each worker's idle time between one slice's inference window ending and its next one beginning (the commit,
    the next Spark job, the wait for the slice's slower task), from a whole run's partition_energy table (written
    once per run, so its files are its rows)."""
    import pyarrow.dataset as ds

    windows = ds.dataset(run_table(label, PARTITION_ENERGY), format="parquet").to_table(columns=["pid", "start_ts", "end_ts"]).to_pandas()
    gaps = []
    for _, worker in windows.sort_values("start_ts").groupby("pid"):
        gaps += (worker.start_ts.shift(-1) - worker.end_ts).dropna().dt.total_seconds().tolist()
    return gaps


def killer(label: str, slices: int):
    """A watch for run_job: once `slices` slices are committed, SIGKILL spark-submit's JVM and every process under
    it (the Python driver, the workers with their engines), as a lost driver node would."""
    def watch(pid: int) -> None:
        if committed_slices(label) < slices:
            return
        try:
            process = psutil.Process(pid)
            for p in [*process.children(recursive=True), process]:
                p.send_signal(signal.SIGKILL)
        except psutil.NoSuchProcess:  # already gone
            pass
    return watch


def run(label: str, corpus: Path, args, per_task: int, watch=None) -> dict:
    extra = [f"output.slice_notes_per_task={per_task}", f"variant={args.variant}"]
    return run_job(label, corpus, MASTER, PARTITIONS, args.max_tokens, extra=extra, watch=watch) | {
        "slice_notes_per_task": per_task}


def whole_run(label: str, corpus: Path, args, per_task: int) -> dict:
    """A run from start to end, with its slice boundaries' idle time per worker."""
    return run(label, corpus, args, per_task) | {"slice_boundaries_s": slice_boundaries_s(label)}


def summary(runs: list[dict]) -> dict:
    return {name: spread([r[name] for r in runs]) for name in ("end_to_end_s", "inference_stage_s", "wh_per_1000_notes")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--notes", type=int, default=256)
    parser.add_argument("--slice-notes-per-task", type=int, default=OutputConfig().slice_notes_per_task)  # the job's
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--variant", default="smollm2-135m-fp32")
    parser.add_argument("--json", default="commits.json")
    args = parser.parse_args()
    corpus = make_corpus(args.notes)
    slices = -(-args.notes // (args.slice_notes_per_task * PARTITIONS))
    report = {"date": time.strftime("%Y-%m-%d %H:%M"), "args": vars(args), "slices": slices,
              "lscpu_flags": cpu_flags(), "runs": {"one_slice": [], "slices": []}}
    stamp = time.strftime("%H%M%S")
    for repeat in range(args.repeats):  # interleaved: one slice, slices, one slice, ...
        for name, per_task in (("one_slice", ONE_SLICE), ("slices", args.slice_notes_per_task)):
            report["runs"][name].append(whole_run(f"commits-{stamp}-{name}-{repeat}", corpus, args, per_task))
            write_json(args.json, report)
    report["summary"] = {name: summary(runs) for name, runs in report["runs"].items()}
    ratio = [s["end_to_end_s"] / o["end_to_end_s"] for o, s in zip(report["runs"]["one_slice"], report["runs"]["slices"])]
    report["slices_time_ratio"] = spread(ratio)
    boundaries = [gap for r in report["runs"]["slices"] for gap in r["slice_boundaries_s"]]
    report["slice_boundary_s"] = spread(boundaries) if boundaries else None  # none: one slice per run

    label = f"commits-{stamp}-resumed"
    try:
        run(label, corpus, args, args.slice_notes_per_task, watch=killer(label, slices // 2))
        raise SystemExit("the run to be killed at the half ended first")
    except RuntimeError:  # killed, as intended
        killed_at = committed_slices(label)
    resumed = run(label, corpus, args, args.slice_notes_per_task)
    full = statistics.median(r["inference_stage_s"] for r in report["runs"]["slices"])
    report["resume"] = {"slices_committed_when_killed": killed_at, "run": resumed,
                        "notes_resumed": resumed["notes_resumed"], "inference_stage_s": resumed["inference_stage_s"],
                        "full_run_inference_stage_s": full,
                        "inference_saved_share": 1 - resumed["inference_stage_s"] / full}
    write_json(args.json, report)
    for name, figures in report["summary"].items():
        print(name, {k: fmt(v, 2) for k, v in figures.items()})
    print("slices / one slice, end to end:", fmt(report["slices_time_ratio"], 4))
    if boundaries:
        print("a slice boundary, s of a worker's time:", fmt(report["slice_boundary_s"], 1))
    print(f"resume after {killed_at} of {slices} slices ({resumed['notes_resumed']} notes): inference "
          f"{resumed['inference_stage_s']:.0f} s against {full:.0f} s for a whole run")


if __name__ == "__main__":
    main()
