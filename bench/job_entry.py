"""jobs/abstract_notes.py as it runs under spark-submit, plus a record for the benchmarks: when main() started
and returned, and the roll-up dict it returned, written to $NOTEWATT_BENCH_JSON (no note text is in it).

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

from jobs.abstract_notes import main  # noqa: E402

if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    logging.getLogger("notewatt").setLevel(logging.INFO)
    started = time.time()
    rollup = main(sys.argv[1:])
    ended = time.time()
    record = {"main_start": started, "main_end": ended, "rollup": rollup}
    Path(os.environ["NOTEWATT_BENCH_JSON"]).write_text(json.dumps(record, indent=2, default=str))
