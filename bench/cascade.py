"""The cascade calibrated on this machine: jobs/calibrate_cascade.py on the 36 gold-labelled sample notes (the small
and the large variant each run over them, then the threshold chosen on one half and reported on the other).

    python bench/cascade.py --small qwen-coder-500m --large qwen-coder-1500m [--json cascade.json]
    python bench/cascade.py --field-splits DELTA_PATH [--json field_splits.json]   # from a calibration's tables

Energy on CPU hosts is the labelled CPU+DRAM ESTIMATE. Writes (under bench/results/) the candidates, the report
half's table and, for field-level routing, each split of the fields between the tiers with its F1 over all the
notes (the small tier keeps its fields, the large one gives the rest; no energy: that needs a run); no note text.
"""

from __future__ import annotations

import argparse
import itertools
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.job_runs import ROOT, cpu_flags, write_json  # noqa: E402

GOLD_NOTES = ROOT / "data" / "sample_notes" / "notes.jsonl"


def field_splits(delta: Path) -> list[dict]:
    """F1 over every note for each set of fields the small tier could keep (the large tier's output for the rest),
    from the two calibration runs' per-field scores (note_scores, whose run ids end in -small and -large); best
    first."""
    import pyarrow.dataset as ds

    from notewatt.quality.scoring import OVERALL_FIELDS, FieldScore

    scores = ds.dataset(delta / "note_scores", format="parquet").to_table().to_pandas()
    scores = scores[scores.field.isin(OVERALL_FIELDS)].assign(tier=lambda s: s.run_id.str.rsplit("-", n=1).str[1])
    totals = scores.groupby(["tier", "field"])[["tp", "fp", "fn"]].sum()
    per_field = {key: FieldScore(*map(int, row)) for key, row in totals.iterrows()}
    splits = [{"small_keeps": list(kept),
               "f1": sum((per_field["small" if f in kept else "large", f] for f in OVERALL_FIELDS),
                         FieldScore(0, 0, 0)).f1}
              for n in range(len(OVERALL_FIELDS) + 1) for kept in itertools.combinations(OVERALL_FIELDS, n)]
    return sorted(splits, key=lambda split: -split["f1"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small")
    parser.add_argument("--large")
    parser.add_argument("--field-splits", type=Path, help="only the field splits of a calibration's Delta tables")
    parser.add_argument("--max-tokens", type=int, default=384)
    parser.add_argument("--json", default="cascade.json")
    args = parser.parse_args()
    if args.field_splits:
        report = {"delta": str(args.field_splits), "field_splits": field_splits(args.field_splits)}
        print(f"written to {write_json(args.json, report)}")
        return
    if not (args.small and args.large):
        parser.error("--small and --large are required")
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
               "report_half": report_table(calibration).to_dict("records"),
               "field_splits": field_splits(work / "delta")}
    print(f"written to {write_json(args.json, report)}")


if __name__ == "__main__":
    main()
