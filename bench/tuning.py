"""The energy tuner on this machine, then its answer checked: one `jobs/tune_energy.py` search, and in the same run
the tuned settings against the configured defaults and against naive one-by-one generation, on the same sample,
interleaved, with the quality of each.

    python bench/tuning.py [--trials 20] [--repeats 3] [--json bench/results/tuning.json]

The sample: the 36 sample notes (with gold labels, so F1 is against gold) and the first 28 non-empty MTSamples
reports (long real notes, counted in the valid-JSON rate): 64 notes. Every run is a real job run in this driver
(Spark local mode, vLLM, Delta, MLflow), so workers keep their engines between runs. Energy on CPU hosts is the
labelled CPU+DRAM ESTIMATE.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from levers import NAIVE, run_configuration

from job_runs import RESULTS, ROOT, WORK, cpu_flags

sys.path.insert(0, str(ROOT))

MTSAMPLES = ROOT.parent / "shared" / "data" / "mtsamples_subset.jsonl"


def sample(path: Path, reports: int = 28) -> Path:
    lines = (ROOT / "data" / "sample_notes" / "notes.jsonl").read_text().splitlines()
    extra = [line for line in MTSAMPLES.read_text().splitlines() if json.loads(line)["text"].strip()][:reports]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join([*lines, *extra]) + "\n")
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", type=Path, default=RESULTS / "tuning.json")
    args = parser.parse_args()
    from jobs.tune_energy import main as tune

    notes = sample(WORK / "corpora" / "tuning-64.jsonl")
    work = Path(tempfile.mkdtemp(prefix="notewatt-tuning-"))
    profile = work / "tuned.yaml"
    common = [f"mlflow.tracking_uri=sqlite:///{work}/mlflow.db", f"mlflow.artifact_location={work}/artifacts"]
    report = {"date": time.strftime("%Y-%m-%d %H:%M"), "notes": str(notes), "trials": args.trials,
              "lscpu_flags": cpu_flags(), "load_before": os.getloadavg()}
    started = time.monotonic()
    tune(["--notes", str(notes), "--output", str(work / "delta"), "--trials", str(args.trials),
          "--write-profile", str(profile), "tuning.sample=64", *common])
    report |= {"search_s": time.monotonic() - started, "profile": profile.read_text()}
    from notewatt.config import read_profile

    overrides = [f"{key}={json.dumps(value)}" for key, value in _flat(read_profile(profile)).items()]
    arms = {"configured": [], "tuned": overrides, "naive": NAIVE}
    rows = []
    for repeat in range(args.repeats):
        for arm, extra in arms.items():
            row = run_configuration([*extra, "corpus.limit=64"], str(notes), work, f"check-{arm}-{repeat}")
            rows.append({"arm": arm, "repeat": repeat, "load_1m": os.getloadavg()[0]} | row)
            args.json.write_text(json.dumps(report | {"tuned_overrides": overrides, "runs": rows}, indent=2))
    summary = {arm: {k: statistics.median(r[k] for r in rows if r["arm"] == arm)
                     for k in ("output_tokens_per_joule", "wh_per_1000_notes", "f1_overall", "json_valid_rate",
                               "notes_per_s")} for arm in arms}
    report |= {"tuned_overrides": overrides, "runs": rows, "summary": summary,
               "tuned_vs_configured": summary["tuned"]["output_tokens_per_joule"]
               / summary["configured"]["output_tokens_per_joule"],
               "tuned_vs_naive": summary["tuned"]["output_tokens_per_joule"] / summary["naive"]["output_tokens_per_joule"]}
    args.json.write_text(json.dumps(report, indent=2))
    print(json.dumps({k: report[k] for k in ("search_s", "tuned_overrides", "summary", "tuned_vs_configured",
                                             "tuned_vs_naive")}, indent=2))


def _flat(settings: dict, prefix: str = "") -> dict:
    """A profile's nested settings as `a.b.c` keys (lists and scalars as values)."""
    flat = {}
    for key, value in settings.items():
        if isinstance(value, dict):
            flat |= _flat(value, f"{prefix}{key}.")
        else:
            flat[f"{prefix}{key}"] = value
    return flat


if __name__ == "__main__":
    main()
