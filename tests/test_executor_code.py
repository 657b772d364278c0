"""Executor code lives in udfs/ and never needs the driver's: importing every udfs module loads no notewatt, jobs,
MLflow or Delta, and what the driver ships to the executors loads, in a fresh interpreter as on an executor,
without them."""

import json
import subprocess
import sys
from functools import partial
from pathlib import Path

import pytest
from pyspark import cloudpickle

from notewatt.config import load_config
from notewatt.inference import partition_settings
from udfs.abstract_partition import abstract_partition
from udfs.engine_cache import release_worker
from udfs.html_text import clean_html_texts

ROOT = Path(__file__).resolve().parents[1]
DRIVER_ONLY = ("notewatt", "jobs", "mlflow", "delta")


def top_level_modules_after(code: str) -> set[str]:
    """The top-level modules a fresh interpreter has loaded after running `code`."""
    report = "; import json, sys; print(json.dumps(sorted({n.split('.')[0] for n in sys.modules})))"
    done = subprocess.run([sys.executable, "-c", code + report], cwd=ROOT, capture_output=True, text=True, check=True)
    return set(json.loads(done.stdout.splitlines()[-1]))


def test_importing_udfs_loads_no_driver_code():
    modules = sorted(".".join(p.relative_to(ROOT).with_suffix("").parts) for p in (ROOT / "udfs").rglob("*.py")
                     if p.stem != "__init__")  # the energy package's modules too
    loaded = top_level_modules_after(f"[__import__(m) for m in {modules!r}]")
    assert len(modules) >= 15 and "udfs" in loaded and loaded.isdisjoint(DRIVER_ONLY)


@pytest.mark.parametrize("shipped", [
    partial(abstract_partition, settings=partition_settings(load_config(), "run", ledger_folder="/tmp/ledger")),
    partial(release_worker, keep=frozenset()),
    clean_html_texts,
], ids=["partition function and its settings", "engines of earlier runs closed", "HTML cleaning"])
def test_what_the_driver_ships_loads_without_driver_code(shipped, tmp_path):
    (tmp_path / "shipped.pickle").write_bytes(cloudpickle.dumps(shipped))
    loaded = top_level_modules_after(f"import pickle; pickle.loads(open({str(tmp_path / 'shipped.pickle')!r}, 'rb').read())")
    assert "udfs" in loaded and loaded.isdisjoint(DRIVER_ONLY)
