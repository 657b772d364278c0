"""What a Python worker does during an energy window besides vLLM's generate: the job on a corpus at local[1],
with py-spy (from PyPI: `uv tool install py-spy`) sampling the worker for `--seconds` once its engine has loaded,
its stacks summed into the parts of a window (vLLM's generate and what is under it, prompts and tokenization,
validation, the energy sampler, Arrow and pandas, the rest).

    python bench/window_profile.py [--notes 64] [--max-tokens 64] [--seconds 200] [--json out.json]

Only function names and sample counts are written: no note text.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

from job_runs import RESULTS, ROOT, WORK, job_overrides, make_corpus

PARTS = (  # (part, a frame that puts a stack in it), the first that matches wins
    ("energy sampler thread", "_sample \\(udfs/energy/monitor.py|energy-sampler"),
    ("prompts and tokenization", "note_prompts|fit_prompt|chunk_sections|tokenize \\(udfs"),
    ("validation and chunk merge", "validate \\(udfs|combine_chunks|merge_abstractions"),
    ("vLLM generate", "generate \\(udfs/engine.py"),
    ("Arrow and pandas (rows in, rows out)", "pyarrow|pandas|serializers|output_frame"),
)


def worker_pid(log: Path, timeout_s: float = 900) -> int:
    """The pid of the Python worker whose engine has loaded (its log line), waiting for it."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = re.search(r"engine loaded in pid (\d+)", log.read_text(errors="replace")) if log.exists() else None
        if found:
            return int(found.group(1))
        time.sleep(1)
    raise TimeoutError(f"no engine loaded within {timeout_s} s; see {log}")


def summarise(raw: str) -> dict:
    """Samples per part, from py-spy's collapsed stacks (`frame;frame;... count` per line)."""
    parts: collections.Counter = collections.Counter()
    for line in raw.splitlines():
        stack, _, count = line.rpartition(" ")
        part = next((name for name, pattern in PARTS if re.search(pattern, stack)), "other")
        parts[part] += int(count)
    total = sum(parts.values())
    return {"samples": total, "share": {k: round(v / total, 4) for k, v in parts.most_common()}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--notes", type=int, default=64)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--seconds", type=int, default=200, help="to cover the window: about notes / 0.4 s here")
    parser.add_argument("--json", type=Path, default=RESULTS / "window_profile.json")
    args = parser.parse_args()
    py_spy = shutil.which("py-spy") or str(Path.home() / ".local" / "bin" / "py-spy")
    corpus = make_corpus(args.notes)
    out = WORK / "profile"
    out.mkdir(parents=True, exist_ok=True)
    log = out / "job.log"
    command = ["spark-submit", "--master", "local[1]", "bench/job_entry.py", "--run-id", "profile",
               *job_overrides(corpus, out, args.max_tokens, ["spark.partitions=1"])]
    with log.open("w") as sink:
        job = subprocess.Popen(command, cwd=ROOT, stdout=sink, stderr=subprocess.STDOUT,
                               env=os.environ | {"NOTEWATT_BENCH_JSON": str(out / "record.json")})
        pid = worker_pid(log)  # the window opens right after the engine load
        modes = {"all threads": [], "holding the GIL": ["--gil"]}  # both at once, over the same seconds
        recorders = {mode: subprocess.Popen([py_spy, "record", "--pid", str(pid), "--duration", str(args.seconds),
                                             "--rate", "100", "--format", "raw", "--output", str(out / f"{i}.txt"),
                                             "--nonblocking", *extra], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                     for i, (mode, extra) in enumerate(modes.items())}
        for recorder in recorders.values():
            recorder.wait()
        report = {mode: summarise((out / f"{i}.txt").read_text()) for i, mode in enumerate(modes)}
        job.wait()
    report |= {"notes": args.notes, "max_tokens": args.max_tokens, "seconds": args.seconds, "command": " ".join(command),
               "date": time.strftime("%Y-%m-%d %H:%M"), "load": os.getloadavg()}
    args.json.write_text(json.dumps(report, indent=2))
    for mode in ("all threads", "holding the GIL"):
        print(f"{mode}: {report[mode]['samples']} samples;",
              ", ".join(f"{k} {100 * v:.1f} %" for k, v in report[mode]["share"].items()))


if __name__ == "__main__":
    main()
