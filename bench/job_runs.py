"""Shared by bench/overhead.py and bench/scaling.py: corpora, timed runs of the job and of bare vLLM, summaries.

Every run is its own process (spark-submit, or python for the bare engine), timed from start to exit by the
caller, with the load average read before it starts and after it ends (the machine is shared). No note text
is logged or written: only counts, tokens, times and energy.
"""

from __future__ import annotations

import json
import os
import re
import statistics
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parents[1]
SAMPLE_NOTES = ROOT / "data" / "sample_notes" / "notes.jsonl"
WORK = Path("/tmp/notewatt-bench")
RESULTS = ROOT / "bench" / "results"


def make_corpus(notes: int, source: Path = SAMPLE_NOTES, work: Path = WORK) -> Path:
    """`notes` notes made by cycling through `source`, each copy with its own note_id and a first line naming
    the copy, so that no two prompts are identical (vLLM's prefix cache cannot skip a repeated note's prefill)."""
    records = [json.loads(line) for line in source.read_text().splitlines() if line.strip()]
    path = work / "corpora" / f"{source.stem}-{notes}.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as out:
        for i in range(notes):
            record = dict(records[i % len(records)])
            copy = i // len(records)
            record["note_id"] = f"{record['note_id']}-c{copy}"
            record["text"] = f"Copy {copy}.\n{record['text']}"
            out.write(json.dumps(record) + "\n")
    return path


def cpu_flags() -> str:
    """This machine's CPU flags (`lscpu`), recorded with every benchmark: bf16 and int8 speeds follow them."""
    found = subprocess.run(["sh", "-c", "lscpu | grep -i '^flags'"], capture_output=True, text=True)
    return found.stdout.split(":", 1)[-1].strip()


def run_dir(label: str) -> Path:
    """A bench run's folder: its log, its record and its Delta tables (delta/)."""
    return WORK / "runs" / label


def job_overrides(corpus: Path, out_dir: Path, max_tokens: int, extra: list[str] = ()) -> list[str]:
    """The job's key=value overrides for a benchmark run: corpus, outputs under `out_dir`, max_tokens."""
    return [
        f"corpus.path={corpus}",
        f"output.path={out_dir / 'delta'}",
        f"mlflow.tracking_uri=sqlite:///{WORK / 'mlflow.db'}",
        f"mlflow.artifact_location={WORK / 'mlartifacts'}",
        f"engine.max_tokens={max_tokens}",
        *extra,
    ]


def timed(command: list[str], env: dict, log_path: Path, watch: Callable[[int], None] | None = None) -> dict:
    """Run `command` to its exit; wall time, load averages before and after, exit code. Output goes to a log;
    `watch(pid)` is called about once a second while it runs."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    load_before = os.getloadavg()
    started = time.time()
    with log_path.open("w") as log:
        process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
        while (code := process.poll()) is None:
            if watch:
                watch(process.pid)
            time.sleep(1.0)
    ended = time.time()
    if code != 0:
        raise RuntimeError(f"{command[0]} exited {code}; see {log_path}")
    return {"process_start": started, "process_end": ended, "end_to_end_s": ended - started,
            "loadavg_before": load_before, "loadavg_after": os.getloadavg(), "log": str(log_path)}


def run_job(label: str, corpus: Path, master: str, partitions: int | None, max_tokens: int,
            config: list[str] = (), extra: list[str] = (), submit_conf: list[str] = (),
            watch: Callable[[int], None] | None = None) -> dict:
    """One spark-submit of jobs/abstract_notes.py (through bench/job_entry.py, which records the roll-up);
    `partitions` None leaves them to the job (a slot each, as many as memory holds)."""
    out_dir = run_dir(label)
    result_json = out_dir / "job_entry.json"
    out_dir.mkdir(parents=True, exist_ok=True)
    command = [
        "spark-submit", "--master", master, *[a for c in submit_conf for a in ("--conf", c)],
        str(ROOT / "bench" / "job_entry.py"), *[a for c in config for a in ("--config", c)],
        "--run-id", label,
        *job_overrides(corpus, out_dir, max_tokens, [f"spark.partitions={partitions}"] * (partitions is not None) + [*extra]),
    ]
    run = timed(command, os.environ | {"NOTEWATT_BENCH_JSON": str(result_json)}, out_dir / "job.log", watch)
    entry = json.loads(result_json.read_text())
    rollup = entry["rollup"]
    log_text = Path(run["log"]).read_text()
    loads = [float(s) for s in re.findall(r"engine loaded in pid \d+ in ([\d.]+) s", log_text)]
    imports = [float(s) for s in re.findall(r"vLLM imported in pid \d+ in ([\d.]+) s \(warm-up\)", log_text)]
    window_s = rollup["inference_s"]  # first window start to last window end (one window at local[1])
    stage_end = datetime.fromisoformat(str(rollup["started_at"])).timestamp() + rollup["duration_s"]
    return run | {
        "kind": "job", "label": label, "master": master, "partitions": rollup["partitions"], "max_tokens": max_tokens,
        "command": " ".join(command),
        "notes": rollup["notes"], "notes_ok": rollup["notes_ok"], "notes_resumed": rollup.get("notes_resumed"),
        "prompt_tokens": rollup["prompt_tokens"], "output_tokens": rollup["output_tokens"],
        "steady_s": window_s,
        "engine_load_s": loads,  # the model load on the inference stage's path
        "warm_up_import_s": imports,  # vLLM's import in a warmed worker, alongside reading and screening
        "startup_s": entry["main_start"] - run["process_start"],  # JVM, Python imports, up to main()
        "inference_stage_s": rollup["duration_s"],  # driver wall time of the stage: engine load + windows
        "main_s": entry["main_end"] - entry["main_start"],
        "post_main_s": run["process_end"] - entry["main_end"],  # Spark/JVM shutdown, engine close at exit
        "energy_wh": rollup["energy_wh"], "wh_per_1000_notes": rollup["wh_per_1000_notes"],
        "engine_load_wh": rollup["engine_load_wh"], "energy_sources": rollup["energy_sources"],
        "energy_status": rollup["energy_status"], "output_tokens_per_joule": rollup["output_tokens_per_joule"],
        "after_inference_s": run["process_end"] - stage_end,  # tables, quality, checks, MLflow, shutdown
        "stages": {k.removeprefix("stage_").removesuffix("_s"): v for k, v in rollup.items() if k.startswith("stage_")},
    } | rates(rollup["notes"], rollup["output_tokens"], window_s, run["end_to_end_s"])


def run_bare(label: str, corpus: Path, max_tokens: int, config: list[str] = (), extra: list[str] = ()) -> dict:
    """One process of bench/bare_generate.py: the same config's engine and prompts, one LLM.generate call."""
    out_dir = run_dir(label)
    result_json = out_dir / "bare.json"
    out_dir.mkdir(parents=True, exist_ok=True)
    command = [
        sys.executable, str(ROOT / "bench" / "bare_generate.py"), "--json", str(result_json),
        *[a for c in config for a in ("--config", c)], *job_overrides(corpus, out_dir, max_tokens, list(extra)),
    ]
    run = timed(command, dict(os.environ), out_dir / "bare.log")
    bare = json.loads(result_json.read_text())
    return run | bare | {"kind": "bare", "label": label, "max_tokens": max_tokens, "command": " ".join(command),
                         "steady_s": bare["generate_s"], "startup_s": bare["main_start"] - run["process_start"]} | rates(
        bare["notes"], bare["output_tokens"], bare["generate_s"], run["end_to_end_s"])


def rates(notes: int, output_tokens: int, steady_s: float, end_to_end_s: float) -> dict:
    return {
        "steady_notes_per_s": notes / steady_s, "steady_output_tok_per_s": output_tokens / steady_s,
        "e2e_notes_per_s": notes / end_to_end_s, "e2e_output_tok_per_s": output_tokens / end_to_end_s,
    }


def spread(values: list[float]) -> dict:
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "n": len(values)}


def fmt(s: dict, digits: int = 3) -> str:
    """`median (min–max)`, or the single value when there was one run."""
    if s["n"] == 1:
        return f"{s['median']:.{digits}f} (1 run)"
    return f"{s['median']:.{digits}f} ({s['min']:.{digits}f}–{s['max']:.{digits}f})"


def write_json(name: str, report: dict) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / name
    path.write_text(json.dumps(report, indent=2, default=str))
    return path


def job_breakdown(job: dict) -> dict:
    """A job run's wall time by the job's own stages (notewatt/stages.py, from its run_rollup row and MLflow's
    timing), with the inference stage split into its longest engine load, the windows and the rest (Python
    workers, shuffles), and the exit after main() returned."""
    stages = dict(job["stages"])
    inference = stages.pop("inference")
    load = max(job["engine_load_s"]) if job["engine_load_s"] else 0.0
    stages.pop("quality")  # part of the tables stage
    return {**{k: v for k, v in stages.items() if k in ("launch", "spark_start", "read_screen", "route_cache")},
            "engine_load": load, "windows": job["steady_s"], "inference_other": inference - load - job["steady_s"],
            **{k: stages[k] for k in ("tables", "writes", "mlflow")}, "exit": job["post_main_s"]}
