"""Abstract clinical notes with vLLM on Spark and report what it cost in energy.

    spark-submit jobs/abstract_notes.py [--config conf/local_cpu.yaml] [--notes PATH] [--output PATH]
                                        [--run-id ID | --resume ID] [--variant NAME] [key.path=value ...]

The command line of notewatt.run (notewatt/runner.py): the settings, one run, its summary and gate report; exit
status 1 when the gate fails with gate.fail_job, 2 on a user's mistake (one line). A rerun of a run id (or --resume)
resumes the run: only the notes it has not committed go to the engine.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the project root, where spark-submit starts in jobs/

from notewatt.cli import job_arguments, parse_job_config, run_job  # noqa: E402
from notewatt.gate.checks import gate_report  # noqa: E402
from notewatt.runner import RunResult, run  # noqa: E402
from notewatt.stages import StageClock  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    clock = StageClock()  # from the process's launch
    config = parse_job_config(job_arguments(__doc__.splitlines()[0], resumable=True), argv)
    result = run(config, clock=clock)
    report(result)
    return 1 if config.gate.fail_job and not result.gate_passed else 0


def report(result: RunResult) -> None:
    """The run's summary and its gate report, on the console."""
    from notewatt.reporting.summary import print_summary  # loaded during inference (prefetch)

    print_summary(result.rollup, result.tables, result.tracked, result.stage_seconds, result.routes)
    if result.checks:
        print(gate_report(result.checks), flush=True)


if __name__ == "__main__":
    run_job(main)
