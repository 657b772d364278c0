"""The same notes through the job on both Spark lines (Spark 4 and Spark 3.5 LTS) at temperature 0: are the outputs
the same, and what does each run cost? Each line runs in its own venv (make setup, make setup SPARK=3.5) as a
spark-submit of its own; each then dumps its note rows (status and abstraction per note id: model output, never
note text) from its own Delta tables, and the two are compared here.

    python bench/spark_lines.py [--notes 36 sample notes + 16 MTSamples reports] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import time
from pathlib import Path

from job_runs import RESULTS, ROOT, WORK, cpu_flags, timed

LINES = {"4": ".venv", "3.5": ".venv-spark3.5"}
MTSAMPLES = ROOT.parent / "shared" / "data" / "mtsamples_subset.jsonl"
DUMP = ("import json, sys; from notewatt.cli import DEFAULT_PROFILE; from notewatt.config import OutputConfig, "
        "load_config; from notewatt.spark_session import start_spark; from notewatt.table_store import TableStore; "
        "from notewatt.tables import NOTE_ABSTRACTIONS; "
        "store = TableStore(start_spark(load_config([DEFAULT_PROFILE]).spark), OutputConfig(path=sys.argv[1])); "
        "rows = store.read(NOTE_ABSTRACTIONS).select('note_id', 'status', 'abstraction', 'output_tokens').collect(); "
        "print(json.dumps({r.note_id: [r.status, r.abstraction, r.output_tokens] for r in rows}))")


def corpus(path: Path, mtsamples: int) -> Path:
    """The 36 sample notes and the first `mtsamples` non-empty MTSamples reports."""
    lines = (ROOT / "data" / "sample_notes" / "notes.jsonl").read_text().splitlines()
    reports = [line for line in MTSAMPLES.read_text().splitlines() if json.loads(line)["text"].strip()][:mtsamples]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join([*lines, *reports]) + "\n")
    return path


def line_env(venv: str) -> dict:
    """The environment scripts/env.sh sets up for this venv's line (sourced in a shell, read back)."""
    shell = f"export NOTEWATT_VENV={venv} && source scripts/env.sh && env -0"
    raw = subprocess.run(["bash", "-c", shell], cwd=ROOT, capture_output=True, check=True).stdout
    return dict(item.split("=", 1) for item in raw.decode().split("\0") if "=" in item)


def run_line(name: str, venv: str, notes: Path) -> dict:
    env = line_env(venv)
    out = WORK / f"spark-lines-{name}"
    command = ["spark-submit", "bench/job_entry.py", "--notes", str(notes), "--output", str(out / "delta"),
               "--run-id", f"lines-{name}", "engine.temperature=0", f"mlflow.tracking_uri=sqlite:///{out}/mlflow.db",
               f"mlflow.artifact_location={out}/artifacts"]
    record = out / "record.json"
    run = timed(command, env | {"NOTEWATT_BENCH_JSON": str(record)}, out / "job.log")
    dumped = subprocess.run([env["PYSPARK_PYTHON"], "-c", DUMP, str(out / "delta")], env=env, cwd=ROOT,
                            capture_output=True, text=True, check=True).stdout.splitlines()[-1]
    rollup = json.loads(record.read_text())["rollup"]
    keys = ("notes", "notes_ok", "output_tokens", "wh_per_1000_notes", "energy_status", "f1_overall", "duration_s")
    return {"run": run, "rollup": {k: rollup[k] for k in keys}, "notes": json.loads(dumped)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mtsamples", type=int, default=16)
    parser.add_argument("--json", type=Path, default=RESULTS / "spark_lines.json")
    args = parser.parse_args()
    notes = corpus(WORK / "corpora" / "spark-lines.jsonl", args.mtsamples)
    results = {name: run_line(name, venv, notes) for name, venv in LINES.items()}
    a, b = (results[name]["notes"] for name in LINES)
    same = sorted(n for n in a if a[n][:2] == b.get(n, [None, None])[:2])
    report = {
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "load": os.getloadavg(),
        "lscpu_flags": cpu_flags(),
        "notes": len(a),
        "same_status_and_abstraction": len(same),
        "different": sorted(set(a) ^ set(b) | {n for n in a if n in b and a[n][:2] != b[n][:2]}),
        "lines": {name: {"run": r["run"], "rollup": r["rollup"]} for name, r in results.items()},
    }
    print(f"{report['same_status_and_abstraction']} of {report['notes']} notes: the same status and abstraction "
          f"on Spark 4 and Spark 3.5 (different: {report['different']})")
    for name, r in report["lines"].items():
        print(f"Spark {name}: {r['run']['end_to_end_s']:.1f} s end to end, {r['rollup']}")
    args.json.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
