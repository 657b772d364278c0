"""A warmed worker imports vLLM in the background inside an energy window of its own, once, which the ledger keeps
as engine-load energy; its first partition waits for the import; a worker whose tasks have GPUs is not warmed."""

import threading
import time
from dataclasses import replace
from types import SimpleNamespace

import pandas as pd
import pytest

import udfs.worker_warmup as warmup
from tests.fakes import TraceMeter
from udfs.energy.ledger import read_entries
from udfs.engine import EngineSpec
from udfs.energy.meters import TaskMeters
from udfs.energy.task import MeteringSettings
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


def test_the_import_runs_once_in_the_background_inside_a_warm_up_window_of_the_ledger(worker):
    settings, imports, ledger = worker
    rows, took = warm(settings)
    assert rows == [] and took < 0.3  # the task returns while the import runs
    assert [t.name for t in threading.enumerate() if t.name == "vllm-import"] == ["vllm-import"]
    warm(settings)  # a second warm-up task in the same worker starts nothing
    warmup.wait_for_warm_up()  # what a partition does first: wait for the import
    assert imports == [{"A": "1"}]
    [entry] = read_entries(str(ledger))
    window = entry.measurement
    assert (entry.window, entry.state, entry.partition_id) == ("warm_up", "closed", 3)
    assert window.duration_s >= 0.3 and window.energy_j == pytest.approx(10.0 * window.duration_s, rel=0.2)


def test_a_worker_whose_tasks_have_gpus_or_that_has_vllm_already_is_not_warmed(worker, monkeypatch):
    settings, imports, ledger = worker
    warm(settings, gpus=("0",))
    monkeypatch.setitem(__import__("sys").modules, "vllm.entrypoints.llm", object())
    warm(settings)
    warmup.wait_for_warm_up()
    assert read_entries(str(ledger)) == [] and imports == []


def test_a_warmed_worker_builds_its_engine_after_the_import(worker, monkeypatch):
    """The partition waits for the warm-up import, then loads its model in a window of its own; neither window is
    in its rows (note rows only): both are in the ledger, as engine-load energy."""
    import udfs.abstract_partition as partition
    import udfs.engine_cache as engines
    from tests.fakes import FakeEngine
    from tests.test_partition_function import TASK, notes
    from tests.test_partition_function import settings as settings_of
    from udfs.energy.ledger import LOADS

    settings, _, ledger = worker
    partition_settings = replace(settings_of(), metering=settings.metering)
    meters = TaskMeters([TraceMeter(clock=time.monotonic, power=lambda t: 10.0)])
    monkeypatch.setattr(engines, "_ENGINES", {})
    monkeypatch.setattr(engines, "VllmEngine", lambda spec: FakeEngine())
    monkeypatch.setattr(partition, "current_task", lambda first_partition=0: TASK)
    monkeypatch.setattr(partition, "meters_for", lambda metering, addresses: meters)
    warm(settings)
    out = pd.concat(list(partition.abstract_partition(iter([notes(2)]), partition_settings)))
    assert len(out) == 2 and out.window_id.nunique() == 1
    by_kind = {e.window: e for e in read_entries(str(ledger))}
    assert set(by_kind) == {*LOADS, "partition"}
    imported, loaded = by_kind["warm_up"].measurement, by_kind["engine_load"].measurement
    assert imported.end_ts <= loaded.start_ts and by_kind["engine_load"].dtype == "float32"
    assert by_kind["partition"].engine == "loaded" and by_kind["partition"].window_id == out.window_id.iloc[0]


def test_an_empty_partition_opens_no_window(worker, monkeypatch):
    import udfs.abstract_partition as partition
    from tests.test_partition_function import settings as partition_settings

    settings, _, ledger = worker
    assert list(partition.abstract_partition(iter([pd.DataFrame({"note_id": [], "text": []})]),
                                             partition_settings())) == []
