"""The cascade calibrated on this machine: jobs/calibrate_cascade.py on the 36 gold-labelled sample notes (the small
and the large variant each run over them, then the threshold chosen on one half and reported on the other).

    python bench/cascade.py --small qwen-coder-500m --large qwen-coder-1500m [--json cascade.json]

Energy on CPU hosts is the labelled CPU+DRAM ESTIMATE. Writes the candidates, the report half's table and the two
runs' roll-ups to bench/results/; no note text.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.job_runs import ROOT, cpu_flags, write_json  # noqa: E402

GOLD_NOTES = ROOT / "data" / "sample_notes" / "notes.jsonl"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", required=True)
    parser.add_argument("--large", required=True)
    parser.add_argument("--max-tokens", type=int, default=384)
    parser.add_argument("--json", default="cascade.json")
    args = parser.parse_args()
    from jobs.calibrate_cascade import main as calibrate
    from notewatt.cascade_calibration import report_table

    work = Path(tempfile.mkdtemp(prefix="notewatt-cascade-"))
    report = {"date": time.strftime("%Y-%m-%d %H:%M"), "small": args.small, "large": args.large,
              "max_tokens": args.max_tokens, "lscpu_flags": cpu_flags(), "load_before": os.getloadavg()}
    started = time.monotonic()
    calibration = calibrate(["--small", args.small, "--variant", args.large, "--notes", str(GOLD_NOTES),
                             "--output", str(work / "delta"), f"engine.max_tokens={args.max_tokens}",
                             f"mlflow.tracking_uri=sqlite:///{work}/mlflow.db", f"mlflow.artifact_location={work}/art"])
    report |= {"seconds": time.monotonic() - started, "min_mean_logprob": calibration.threshold,
               "candidates": calibration.candidates.to_dict("records"),
               "report_half": report_table(calibration).to_dict("records")}
    print(f"written to {write_json(args.json, report)}")


if __name__ == "__main__":
    main()
