"""A warmed worker imports vLLM in the background inside an energy window, once, and its first kept partition
reports that window; a worker whose tasks have GPUs is not warmed."""

import threading
import time
from types import SimpleNamespace

import pandas as pd
import pytest

import udfs.worker_warmup as warmup
from tests.fakes import TraceMeter
from udfs.energy_ledger import read_entries
from udfs.engine import EngineSpec
from udfs.meters import TaskMeters
from udfs.task_energy import MeteringSettings
from udfs.task_info import TaskInfo


@pytest.fixture
def worker(monkeypatch, tmp_path):
    """A fresh worker whose vLLM import takes 0.3 s and whose one meter draws 10 W."""
    imports = []

    def slow_import(spec):
        imports.append(spec.env)
        time.sleep(0.3)

    monkeypatch.setattr(warmup, "_warm_up", None)
    monkeypatch.setattr(warmup, "import_vllm", slow_import)
    monkeypatch.setattr(warmup, "meters_for", lambda settings, addresses: TaskMeters(
        [TraceMeter(clock=time.monotonic, power=lambda t: 10.0)]))
    settings = SimpleNamespace(run_id="r", variant="v", engine=EngineSpec(model="m", env={"A": "1"}),
                               metering=MeteringSettings(sample_interval_s=0.01, ledger_folder=str(tmp_path)))
    return settings, imports, tmp_path


def warm(settings, gpus=()):
    task = TaskInfo(3, 0, "h", "e", 1, gpus)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(warmup, "current_task", lambda: task)
        started = time.monotonic()
        rows = list(warmup.warm_up_worker(iter([pd.DataFrame({"id": [0]})]), settings))
        return rows, time.monotonic() - started


def test_the_import_runs_once_in_the_background_and_its_window_is_reported_by_the_first_kept_partition(worker):
    settings, imports, ledger = worker
    rows, took = warm(settings)
    assert rows == [] and took < 0.3  # the task returns while the import runs
    assert [t.name for t in threading.enumerate() if t.name == "vllm-import"] == ["vllm-import"]
    warm(settings)  # a second warm-up task in the same worker starts nothing
    window = warmup.warm_up_window(str(ledger))  # what a partition does first: wait for the import
    assert imports == [{"A": "1"}]
    assert window.duration_s >= 0.3 and window.energy_j == pytest.approx(10.0 * window.duration_s, rel=0.2)
    [entry] = [e for e in read_entries(str(ledger)) if e["state"] == "closed"]
    assert (entry["window"], entry["window_id"], entry["partition_id"]) == ("warm_up", window.window_id, 3)
    assert warmup.warm_up_window(str(ledger)) is window  # a failed attempt did not report it: the next one does
    assert warmup.warm_up_window(str(ledger / "a later run")) is None  # its ledger is the warming run's
    warmup.warm_up_reported()
    assert warmup.warm_up_window(str(ledger)) is None


def test_a_worker_whose_tasks_have_gpus_or_that_has_vllm_already_is_not_warmed(worker, monkeypatch):
    settings, imports, ledger = worker
    warm(settings, gpus=("0",))
    monkeypatch.setitem(__import__("sys").modules, "vllm.entrypoints.llm", object())
    warm(settings)
    assert warmup.warm_up_window(str(ledger)) is None and imports == []


def test_a_warmed_workers_first_partition_reports_the_import_beside_its_model_load(worker, monkeypatch):
    import udfs.abstract_partition as partition
    import udfs.engine_cache as engines
    from tests.fakes import FakeEngine
    from tests.test_partition_function import TASK, notes
    from tests.test_partition_function import settings as partition_settings

    settings = partition_settings()
    meters = TaskMeters([TraceMeter(clock=time.monotonic, power=lambda t: 10.0)])
    monkeypatch.setattr(engines, "_ENGINES", {})
    monkeypatch.setattr(engines, "VllmEngine", lambda spec: FakeEngine())
    monkeypatch.setattr(partition, "current_task", lambda: TASK)
    monkeypatch.setattr(partition, "meters_for", lambda metering, addresses: meters)
    warm(settings)

    def loads():
        out = pd.concat(list(partition.abstract_partition(iter([notes(2)]), settings)))
        return out[out.row_type == "engine_load"].to_dict("records")

    imported, built = loads()
    assert imported["duration_s"] >= 0.3 and built["duration_s"] < 0.3 and imported["end_ts"] <= built["start_ts"]
    assert loads() == []  # once per worker


def test_an_empty_partition_on_a_warmed_worker_reports_the_import(worker, monkeypatch):
    import udfs.abstract_partition as partition
    from tests.test_partition_function import TASK
    from tests.test_partition_function import settings as partition_settings

    settings = partition_settings()
    monkeypatch.setattr(partition, "current_task", lambda: TASK)
    warm(settings)
    [frame] = list(partition.abstract_partition(iter([pd.DataFrame({"note_id": [], "text": []})]), settings))
    assert list(frame.row_type) == ["engine_load", "device"] and frame.duration_s.iloc[0] >= 0.3
    assert warmup.warm_up_window(None) is None
