"""Find the most energy-efficient settings for the hardware at hand: a search over the settings that change energy
per note (variant, a cascade, batching, max_num_seqs, max_tokens, dropped sections, sorting, prefix caching,
partitions), each trial a real job run on a sample of the corpus, within a quality floor set by the configured
settings.

    spark-submit jobs/tune_energy.py [--notes PATH] [--trials N] [--write-profile conf/tuned.yaml]
                                     [abstract_notes options] [tuning.sample=64 tuning.space.engine.batch_size=[8,32] ...]

The first trial runs the settings as configured; the others are Optuna's (TPE with constraints: F1, or agreement
with the first trial where the notes have no gold, at most tuning.quality_margin below the first trial's, and no
lower valid-JSON rate), pruned when clearly worse after their first partition. Each trial is an MLflow run under the
search's parent run, which holds the trials table, the energy-against-quality chart with its Pareto front, and the
best settings as a profile (also written to --write-profile). The search itself is notewatt/tuning_search.py.
Energy is labelled as in every run: on CPU the estimate ranks the settings, on GPUs NVML measures them.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the project root, where spark-submit starts in jobs/

from jobs import abstract_notes  # noqa: E402
from notewatt.cli import job_arguments, parse_job_config, run_job  # noqa: E402
from notewatt.spark_session import start_spark  # noqa: E402
from notewatt.tuning import trials_table  # noqa: E402
from notewatt.tuning_search import search  # noqa: E402


def tuning_arguments() -> argparse.ArgumentParser:
    own = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    own.add_argument("--trials", type=int, help="trials in all (default: tuning.trials)")
    own.add_argument("--write-profile", type=Path, help="write the best settings here as a profile for --config")
    return own


def main(argv: list[str] | None = None) -> int:
    args, job_args = tuning_arguments().parse_known_args(argv)
    config = parse_job_config(job_arguments(abstract_notes.__doc__.splitlines()[0]), job_args)
    result = search(config, args.trials or config.tuning.trials, start_spark(config.spark), abstract_notes.report)
    print(trials_table(result.study).to_string(index=False, float_format=lambda x: f"{x:.4g}"))
    print(f"\nBest: trial {result.best.number} ({config.tuning.objective} {result.best.value:.4g}); profile:\n"
          f"{result.profile}", flush=True)
    if args.write_profile:
        args.write_profile.write_text(result.profile)
        print(f"written to {args.write_profile}")
    return 0


if __name__ == "__main__":
    run_job(main)
