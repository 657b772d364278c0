"""The default variant (Qwen2.5-Coder-1.5B-Instruct in the CPU's native dtype) end to end, as `make run` runs it:
spark-submit of jobs/abstract_notes.py in a process of its own on a few sample notes. It runs first in the session
(conftest.py orders it), before the shared session's Python workers hold engines of their own, and its workers end
with its application, so its engines never share the host's memory with the rest of the suite."""

import os
import subprocess
import sys
from pathlib import Path

import mlflow
import pytest

from notewatt.config import PROJECT_ROOT, OutputConfig
from notewatt.table_store import TableStore
from notewatt.tables import ENGINE_LOADS, NOTE_ABSTRACTIONS, RUN_ROLLUP
from udfs.energy.ledger import WARM_UP, read_entries
from udfs.engine_memory import native_cpu_dtype

pytestmark = pytest.mark.integration
NOTES = 2


def test_the_default_model_abstracts_notes_in_the_cpus_native_dtype(spark, tmp_path):
    lines = (PROJECT_ROOT / "data" / "sample_notes" / "notes.jsonl").read_text().splitlines()[:NOTES]
    (tmp_path / "notes.jsonl").write_text("\n".join(lines) + "\n")
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    command = [
        str(Path(sys.executable).parent / "spark-submit"), str(PROJECT_ROOT / "jobs" / "abstract_notes.py"),
        "--notes", str(tmp_path / "notes.jsonl"), "--output", str(tmp_path / "delta"), "--run-id", "default-model",
        "engine.max_tokens=192", f"mlflow.tracking_uri={uri}", f"mlflow.artifact_location={tmp_path}/artifacts",
    ]
    result = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path, timeout=1800, env=os.environ)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "variant qwen-coder-1500m" in result.stdout

    store = TableStore(spark, OutputConfig(path=str(tmp_path / "delta")))
    [rollup] = store.read(RUN_ROLLUP).where("run_id = 'default-model'").collect()
    dtype = native_cpu_dtype()  # bfloat16 where the CPU has AVX-512 BF16 or AMX, else float32
    assert (rollup.variant, rollup.dtype, rollup.notes, rollup.notes_ok) == ("qwen-coder-1500m", dtype, NOTES, NOTES)
    assert rollup.f1_overall >= 0.5  # the 135M model scores ~0.14 on the gold notes, the 1.5B ~0.7
    notes = store.read(NOTE_ABSTRACTIONS).where("run_id = 'default-model'").collect()
    loads = store.read(ENGINE_LOADS).where("run_id = 'default-model' AND dtype IS NOT NULL").collect()
    assert {n.dtype for n in notes} == {dtype} and loads and {r.dtype for r in loads} == {dtype}
    ledger = read_entries(str(tmp_path / "delta" / "_energy_ledger" / "default-model"), recursive=True)
    warm_ups = {e.window_id for e in ledger if e.window == WARM_UP}  # a fresh application: its workers are warmed
    assert warm_ups and warm_ups <= {r.window_id for r in store.read(ENGINE_LOADS).collect()}
    client = mlflow.MlflowClient(tracking_uri=uri)
    [run] = client.search_runs([client.get_experiment_by_name("notewatt").experiment_id])
    assert (run.data.params["dtype"], run.data.params["dtype_setting"]) == (dtype, "native")
