"""Overhead of the Spark job over bare vLLM: the same notes, model and engine settings, in one run.

Each repeat runs (a) bench/bare_generate.py, one process calling LLM.generate on every prompt, then (b) the job
(spark-submit bench/job_entry.py = jobs/abstract_notes.py) with one executor slot and one partition; repeats are
interleaved a,b,a,b,... and the load average is recorded for each run. Reports, as median (min-max):

  end-to-end   notes (and output tokens) / process wall time, start to exit: JVM, imports, engine load,
               inference, Delta writes, MLflow, shutdown
  steady       notes / the inference alone: the bare generate() call; the job's partition energy window
               (the roll-up's inference_s, from the partition_energy rows), engine load excluded

and the per-repeat ratios (b)/(a). Also the job's energy (the roll-up's; on a machine without NVML or RAPL a
CPU+DRAM ESTIMATE) as Wh per 1,000 notes and output tokens per joule, with its energy source.

    python bench/overhead.py [--notes 256] [--repeats 3] [--max-tokens 384] [--master local[1]]
                             [--config conf/local_cpu.yaml] [--variant NAME] [--override key.path=value ...]
                             [--submit-conf k=v ...] [--candidate-conf k=v ...]
                             [--reference-j-per-token 0.12] [--json overhead.json]
"""

from __future__ import annotations

import argparse
import statistics
import time

from job_runs import cpu_flags, fmt, job_breakdown, make_corpus, run_bare, run_job, spread, write_json

FIGURES = ("end_to_end_s", "steady_s", "e2e_notes_per_s", "steady_notes_per_s", "e2e_output_tok_per_s",
           "steady_output_tok_per_s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--notes", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--max-tokens", type=int, default=384)
    parser.add_argument("--master", default="local[1]", help="the job's Spark master (one task slot)")
    parser.add_argument("--config", action="append", default=[], help="job profile(s), as the job's --config")
    parser.add_argument("--variant", help="model variant of the config (both sides)")
    parser.add_argument("--submit-conf", action="append", default=[], help="spark-submit --conf for the job")
    parser.add_argument("--override", action="append", default=[], help="key.path=value for both sides")
    parser.add_argument("--job-override", action="append", default=[], help="key=value for the job only")
    parser.add_argument("--candidate-conf", action="append", default=[],
                        help="spark-submit --conf of a candidate fix: adds arm (c), the job with it, after (b)")
    parser.add_argument("--reference-j-per-token", type=float,
                        help="a published J per output token to print next to the job's figure (e.g. ML.ENERGY)")
    parser.add_argument("--json", default="overhead.json", help="file name under bench/results/")
    args = parser.parse_args()

    corpus = make_corpus(args.notes)
    shared = ([f"variant={args.variant}"] if args.variant else []) + args.override
    stamp = time.strftime("%Y%m%d-%H%M%S")
    runs = []
    for r in range(args.repeats):  # a, b, a, b, ...
        bare = run_bare(f"ovh-{stamp}-bare-{r}", corpus, args.max_tokens, args.config, shared)
        job = run_job(f"ovh-{stamp}-job-{r}", corpus, args.master, 1, args.max_tokens, args.config,
                      shared + args.job_override, args.submit_conf)
        ratio = {k: job[k] / bare[k] for k in FIGURES if "per_s" in k}
        runs.append({"repeat": r, "bare": bare, "job": job, "ratio_job_over_bare": ratio})
        if args.candidate_conf:
            fixed = run_job(f"ovh-{stamp}-cand-{r}", corpus, args.master, 1, args.max_tokens, args.config,
                            shared + args.job_override, args.submit_conf + args.candidate_conf)
            runs[-1] |= {"candidate": fixed, "ratio_candidate_over_bare": {k: fixed[k] / bare[k] for k in ratio}}
        print(f"repeat {r}: steady notes/s ratio {ratio['steady_notes_per_s']:.3f}, end-to-end "
              f"{ratio['e2e_notes_per_s']:.3f}; loadavg bare {bare['loadavg_before'][0]:.2f}, "
              f"job {job['loadavg_before'][0]:.2f}", flush=True)
        write_json(args.json, {"partial": True, "notes": args.notes, "runs": runs})  # kept if a later repeat fails

    sides = ("bare", "job", "candidate") if args.candidate_conf else ("bare", "job")
    summary = {side: {k: spread([run[side][k] for run in runs]) for k in FIGURES} for side in sides}
    for ratio in ("ratio_job_over_bare", "ratio_candidate_over_bare")[: len(sides) - 1]:
        summary[ratio] = {k: spread([run[ratio][k] for run in runs]) for k in runs[0][ratio]}
    jobs = [run["job"] for run in runs]
    energy = {
        "energy_sources": sorted({j["energy_sources"] for j in jobs}),
        "wh_per_1000_notes": spread([j["wh_per_1000_notes"] for j in jobs]),
        "output_tokens_per_joule": spread([j["output_tokens_per_joule"] for j in jobs]),
        "reference_j_per_token": args.reference_j_per_token,
    }
    report = {"date": time.strftime("%Y-%m-%d %H:%M %Z"), "notes": args.notes, "max_tokens": args.max_tokens,
              "master": args.master, "config": args.config, "variant": args.variant, "submit_conf": args.submit_conf,
              "candidate_conf": args.candidate_conf, "lscpu_flags": cpu_flags(),
              "summary": summary, "energy": energy, "runs": runs}
    path = write_json(args.json, report)

    print(f"\n{args.notes} notes, max_tokens {args.max_tokens}, job on {args.master}, {args.repeats} repeats"
          " (median (min–max))\n")
    columns = ["bare vLLM (a)", "Spark job (b)", "ratio (b)/(a)"]
    if args.candidate_conf:
        columns += ["job + candidate (c)", "ratio (c)/(a)"]
    print("figure | " + " | ".join(columns))
    print("--- | " + " | ".join("---" for _ in columns))
    for k in FIGURES:
        cells = [fmt(summary["bare"][k], 2), fmt(summary["job"][k], 2)]
        cells.append(fmt(summary["ratio_job_over_bare"][k]) if k in summary["ratio_job_over_bare"] else "")
        if args.candidate_conf:
            cells.append(fmt(summary["candidate"][k], 2))
            cells.append(fmt(summary["ratio_candidate_over_bare"][k]) if k in summary["ratio_candidate_over_bare"] else "")
        print(f"{k} | " + " | ".join(cells))
    print(f"\njob energy ({', '.join(energy['energy_sources'])}): Wh per 1,000 notes "
          f"{fmt(energy['wh_per_1000_notes'])}, output tokens per joule {fmt(energy['output_tokens_per_joule'])}")
    arms = [("job", "b")] + ([("candidate", "c")] if args.candidate_conf else [])
    print("\njob wall time by part, s (median (min–max)); bare (a): engine load "
          f"{fmt(spread([run['bare']['engine_load_s'] for run in runs]), 1)}, generate "
          f"{fmt(spread([run['bare']['generate_s'] for run in runs]), 1)}")
    print("arm | " + " | ".join(job_breakdown(runs[0]["job"])))
    print("--- | " + " | ".join("---" for _ in job_breakdown(runs[0]["job"])))
    for side, name in arms:
        parts = [job_breakdown(run[side]) for run in runs]
        print(f"({name}) | " + " | ".join(fmt(spread([p[k] for p in parts]), 1) for k in parts[0]))
    if args.reference_j_per_token:
        j_per_token = 1 / statistics.median(j["output_tokens_per_joule"] for j in jobs)
        print(f"J per output token: this run {j_per_token:.4f} vs reference {args.reference_j_per_token:.4f} "
              "(the reference measures a different workload; see BENCHMARKS.md)")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
