"""jobs/abstract_notes.py as it runs under spark-submit, plus a record for the benchmarks: when the run started and
ended, and its roll-up, written to $NOTEWATT_BENCH_JSON (no note text is in it).

    NOTEWATT_BENCH_JSON=/tmp/x.json spark-submit bench/job_entry.py [job arguments ...]
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from jobs.abstract_notes import report  # noqa: E402
from notewatt.cli import job_arguments, parse_job_config  # noqa: E402
from notewatt.runner import run  # noqa: E402
from notewatt.stages import StageClock  # noqa: E402

if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    logging.getLogger("notewatt").setLevel(logging.INFO)
    clock = StageClock()  # from the process's launch, as the job's
    started = time.time()
    result = run(parse_job_config(job_arguments("bench"), sys.argv[1:]), clock=clock)
    report(result)
    ended = time.time()
    record = {"main_start": started, "main_end": ended,
              "rollup": result.rollup | {"mlflow_run_id": result.tracked.run_id}}
    Path(os.environ["NOTEWATT_BENCH_JSON"]).write_text(json.dumps(record, indent=2, default=str))
