"""Scaling of the job: Wh per 1,000 notes and notes/s by corpus size and by task slots (local[1] vs local[2]).

Runs the job (spark-submit bench/job_entry.py = jobs/abstract_notes.py) for every size x master, interleaved
(size1/master1, size1/master2, ..., then the next repeat), one partition per task slot. Per run it records the
roll-up's energy (Wh per 1,000 notes, engine load kept apart, with its energy source: on a machine without
NVML or RAPL this is the job's CPU+DRAM ESTIMATE) and notes/s, steady (over the inference windows: first window
start to last window end) and end-to-end (process start to exit). Prints median (min-max) per size and master.

    python bench/scaling.py [--sizes 64 256 1024] [--masters local[1] local[2]] [--repeats 3] [--max-tokens 64]
                            [--config conf/local_cpu.yaml] [--variant NAME] [--override key.path=value ...]
                            [--submit-conf k=v ...] [--json scaling.json] [--add-to scaling.json]

--add-to continues an earlier run with the same settings: its runs count as the first repeats and the report
covers them all (a 1,024-note run takes ~27 min here, so three repeats may take more than one sitting).
"""

from __future__ import annotations

import argparse
import json
import time

from job_runs import RESULTS, fmt, make_corpus, run_job, spread, write_json

FIGURES = ("wh_per_1000_notes", "engine_load_wh", "steady_notes_per_s", "e2e_notes_per_s", "steady_output_tok_per_s",
           "output_tokens_per_joule", "end_to_end_s")


def slots(master: str) -> int:
    """Task slots of a local master: local[2] -> 2 (one partition, hence one engine, per slot)."""
    return int(master[master.index("[") + 1 : -1]) if "[" in master else 1


def earlier_runs(name: str, args: argparse.Namespace) -> list[dict]:
    """The runs of an earlier scaling report under bench/results/, refused if its settings differ."""
    report = json.loads((RESULTS / name).read_text())
    settings = ("max_tokens", "config", "variant")
    if report.get("partial") or any(report[k] != getattr(args, k) for k in settings):
        raise SystemExit(f"{name}: a partial report, or other {', '.join(settings)}; its runs cannot be added to")
    return report["runs"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 256, 1024])
    parser.add_argument("--masters", nargs="+", default=["local[1]", "local[2]"])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--config", action="append", default=[])
    parser.add_argument("--variant")
    parser.add_argument("--override", action="append", default=[], help="key.path=value for every run")
    parser.add_argument("--submit-conf", action="append", default=[], help="spark-submit --conf for every run")
    parser.add_argument("--json", default="scaling.json", help="file name under bench/results/")
    parser.add_argument("--add-to", help="an earlier report under bench/results/ whose runs count as earlier repeats")
    args = parser.parse_args()

    extra = ([f"variant={args.variant}"] if args.variant else []) + args.override
    stamp = time.strftime("%Y%m%d-%H%M%S")
    runs = earlier_runs(args.add_to, args) if args.add_to else []
    first = 1 + max((x["repeat"] for x in runs), default=-1)
    for r in range(first, first + args.repeats):
        for size in args.sizes:
            corpus = make_corpus(size)
            for master in args.masters:
                label = f"scale-{stamp}-{size}-{master.strip('local[]')}-{r}"
                run = run_job(label, corpus, master, slots(master), args.max_tokens, args.config, extra, args.submit_conf)
                runs.append(run | {"repeat": r, "size": size})
                print(f"{size} notes on {master}, repeat {r}: {run['wh_per_1000_notes']:.2f} Wh/1,000 notes "
                      f"({run['energy_sources']}), steady {run['steady_notes_per_s']:.3f} notes/s, "
                      f"loadavg {run['loadavg_before'][0]:.2f}", flush=True)
                write_json(args.json, {"partial": True, "runs": runs})  # kept if a later run fails

    cells = {}
    for size, master in sorted({(x["size"], x["master"]) for x in runs}):
        group = [x for x in runs if x["size"] == size and x["master"] == master]
        cells[f"{size} {master}"] = {k: spread([x[k] for x in group]) for k in FIGURES} | {
            "energy_sources": sorted({x["energy_sources"] for x in group})}
    report = {"date": time.strftime("%Y-%m-%d %H:%M %Z"), "sizes": args.sizes, "masters": args.masters,
              "max_tokens": args.max_tokens, "config": args.config, "variant": args.variant, "cells": cells, "runs": runs}
    path = write_json(args.json, report)

    repeats = first + args.repeats
    print(f"\nmax_tokens {args.max_tokens}, {repeats} repeat(s), median (min–max); energy source in brackets\n")
    print("notes | master | Wh per 1,000 notes | engine load Wh | steady notes/s | end-to-end notes/s | "
          "steady output tok/s | output tok/J")
    print("--- | --- | --- | --- | --- | --- | --- | ---")
    for key, cell in cells.items():
        size, master = key.split()
        print(f"{size} | {master} | {fmt(cell['wh_per_1000_notes'], 2)} [{','.join(cell['energy_sources'])}] | "
              f"{fmt(cell['engine_load_wh'], 3)} | {fmt(cell['steady_notes_per_s'])} | {fmt(cell['e2e_notes_per_s'])} | "
              f"{fmt(cell['steady_output_tok_per_s'], 1)} | {fmt(cell['output_tokens_per_joule'], 2)}")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
