"""The engine start fails with a clear one-line reason; engines are closed."""

import json
import threading
import time

import pytest

import udfs.engine_cache as engines
from tests.fakes import FakeEngine, TraceMeter
from udfs.energy.ledger import read_entries
from udfs.engine import EngineSpec, EngineStartError
from udfs.energy.meters import MeteringError, TaskMeters
from udfs.energy.task import MeteringSettings, ledger_listener
from udfs.task_info import TaskInfo


def test_an_engine_that_cannot_start_names_model_devices_and_reason_and_closes_its_window(monkeypatch, tmp_path):
    def broken(spec):
        raise FileNotFoundError("no config.json in /models/missing")

    monkeypatch.setattr(engines, "VllmEngine", broken)
    meter = TraceMeter(clock=time.monotonic, power=lambda t: 1.0)
    metering = MeteringSettings(sample_interval_s=0.01, ledger_folder=str(tmp_path))
    task = TaskInfo(0, 0, "h", "e", 1, ())
    with pytest.raises(EngineStartError) as error:
        engines.cached_engine(EngineSpec(model="/models/missing"), TaskMeters([meter]), metering,
                              ledger_listener(metering, "r", "v", task, "engine_load"), "r")
    message = str(error.value)
    assert "/models/missing" in message and "Fake GPU fake-gpu" in message and "FileNotFoundError" in message
    assert not [t for t in threading.enumerate() if t.name == "energy-sampler"]
    [entry] = read_entries(str(tmp_path))
    assert (entry.window, entry.state) == ("engine_load", "failed")


def test_close_engines_closes_and_forgets_every_engine(monkeypatch):
    loaded = {"a": FakeEngine(), "b": FakeEngine()}
    monkeypatch.setattr(engines, "_ENGINES", {k: engines.LoadedEngine(e, [], "r") for k, e in loaded.items()})
    assert engines.close_engines() == 2
    assert engines._ENGINES == {} and all(e.closed for e in loaded.values())


@pytest.fixture
def engines_in_their_own_processes(monkeypatch):
    monkeypatch.setenv("VLLM_ENABLE_V1_MULTIPROCESSING", "1")


def test_a_run_closes_the_engines_earlier_runs_left_in_its_workers(monkeypatch, engines_in_their_own_processes):
    """Before a run sizes its engines to memory, each worker closes those the run will not use (a tuner's earlier
    trial, a comparison's other variant): their memory is the host's again."""
    loaded = {"mine": FakeEngine(), "earlier": FakeEngine()}
    monkeypatch.setattr(engines, "_ENGINES", {k: engines.LoadedEngine(e, [], "r") for k, e in loaded.items()})
    [frame] = list(engines.release_worker(iter([]), keep=frozenset({"mine"})))
    assert frame["closed"].tolist() == [1] and list(engines._ENGINES) == ["mine"]
    assert frame["loaded"].tolist() == [["mine"]]  # the run's own engine, held already: its memory is in use
    assert loaded["earlier"].closed and not hasattr(loaded["mine"], "closed")


def test_closing_an_in_process_engine_closes_every_engine_of_the_worker(monkeypatch):
    """In-process vLLM engines share the process's model-parallel groups, which a shutdown tears down: an engine
    kept beside a closed one would fail at its next step, so it is closed too and built again when next used."""
    monkeypatch.setenv("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
    loaded = {"mine": FakeEngine(), "earlier": FakeEngine()}
    monkeypatch.setattr(engines, "_ENGINES", {k: engines.LoadedEngine(e, [], "r") for k, e in loaded.items()})
    [frame] = list(engines.release_worker(iter([]), keep=frozenset({"mine"})))
    assert frame["closed"].tolist() == [2] and frame["loaded"].tolist() == [[]] and engines._ENGINES == {}
    assert all(e.closed for e in loaded.values())
    monkeypatch.setattr(engines, "_ENGINES", {"mine": engines.LoadedEngine(FakeEngine(), [], "r")})
    assert engines.close_engines(keep=["mine"]) == 0  # nothing to close: the kept engine stays


def test_the_driver_finds_why_tasks_could_not_start_in_a_task_failure():
    from notewatt.inference import task_start_failure

    trace = ("org.apache.spark.SparkException: Job aborted ...\n  File \"udfs/abstract_partition.py\", line 9\n"
             "udfs.engine.EngineStartError: vLLM engine could not start: model /m, devices [cpu]: OSError: gone\n"
             "\tat org.apache.spark...")
    failure = task_start_failure(trace)
    assert isinstance(failure, EngineStartError)
    assert str(failure) == "vLLM engine could not start: model /m, devices [cpu]: OSError: gone"
    metering = "udfs.energy.meters.MeteringError: energy.require_measured is true and GPU 0 cannot be read: NVMLError_Unknown\n"
    assert isinstance(task_start_failure(metering), MeteringError)
    assert task_start_failure("org.apache.spark.SparkException: something else") is None


@pytest.mark.integration
def test_a_model_without_a_chat_template_fails_the_job_with_one_line(spark, tmp_path, capsys):
    """Found by a newcomer: such a model used to fail at the first batch with a raw executor traceback."""
    from jobs.abstract_notes import main
    from notewatt.cli import run_job
    from notewatt.config import PROJECT_ROOT

    model = PROJECT_ROOT / "models" / "smollm2-135m-instruct"
    bare = tmp_path / "no-template"
    bare.mkdir()
    for file in model.iterdir():
        if file.name != "chat_template.jinja":
            (bare / file.name).symlink_to(file)
    variant = json.dumps({"smollm2-135m-fp32": {"model": str(bare)}})
    with pytest.raises(SystemExit) as exit_:
        run_job(lambda: main(["--output", str(tmp_path / "delta"), "corpus.limit=1", "spark.partitions=1",
                              "--variant", "smollm2-135m-fp32",
                              f"variants={variant}"]))
    [line] = capsys.readouterr().err.strip().splitlines()[-1:]
    assert exit_.value.code == 2 and line.startswith("notewatt: error: vLLM engine could not start: model")
    assert str(bare) in line and "has no chat template" in line


def test_a_worker_keeps_at_most_its_runs_engines_closing_the_least_recently_used(monkeypatch,
                                                                                 engines_in_their_own_processes):
    """Long-lived workers (the tuner's trials, a comparison's variants) would otherwise hold every engine."""
    made = []
    monkeypatch.setattr(engines, "VllmEngine", lambda spec: made.append(FakeEngine()) or made[-1])
    monkeypatch.setattr(engines, "_ENGINES", {})
    metering = MeteringSettings(sample_interval_s=0.0)
    meters = TaskMeters([TraceMeter(clock=time.monotonic, power=lambda t: 1.0)])
    load = lambda model, keep: engines.cached_engine(EngineSpec(model=model), meters, metering, None, "r", keep)  # noqa: E731
    a, b = load("a", 2).engine, load("b", 2).engine
    assert load("a", 2).engine is a and len(made) == 2  # reused, and now the most recently used
    c = load("c", 2).engine
    assert getattr(b, "closed", False) and not getattr(a, "closed", False) and len(engines._ENGINES) == 2
    load("d", 1)
    assert getattr(a, "closed", False) and getattr(c, "closed", False) and list(engines._ENGINES) == [
        EngineSpec(model="d").key]


def test_a_later_run_reuses_an_engine_only_with_its_prefix_cache_reset_and_says_so(monkeypatch):
    """A run (or a tuner's trial) never inherits another run's cached prompts unannounced."""
    monkeypatch.setattr(engines, "VllmEngine", lambda spec: FakeEngine())
    monkeypatch.setattr(engines, "_ENGINES", {})
    meters = TaskMeters([TraceMeter(clock=time.monotonic, power=lambda t: 1.0)])
    load = lambda run, details: engines.cached_engine(  # noqa: E731
        EngineSpec(model="m"), meters, MeteringSettings(sample_interval_s=0.0), None, run, 1, details)
    first, again, later = {}, {}, {}
    engine = load("run-1", first).engine
    assert load("run-1", again).engine is engine and not hasattr(engine, "prefix_cache_resets")
    assert load("run-2", later).engine is engine and engine.prefix_cache_resets == 1
    assert (first["engine"], again["engine"], later["engine"]) == ("loaded", "loaded", "reused (prefix cache reset)")
    assert first["dtype"] == "float32"


def test_an_engine_that_raised_is_closed_and_the_next_call_builds_another(monkeypatch):
    made = []
    monkeypatch.setattr(engines, "VllmEngine", lambda spec: made.append(FakeEngine()) or made[-1])
    monkeypatch.setattr(engines, "_ENGINES", {})
    meters = TaskMeters([TraceMeter(clock=time.monotonic, power=lambda t: 1.0)])
    load = lambda: engines.cached_engine(EngineSpec(model="m"), meters, MeteringSettings(sample_interval_s=0.0),  # noqa: E731
                                         None, "r").engine
    broken = load()
    engines.discard_engine(EngineSpec(model="m"))
    assert broken.closed and load() is not broken and len(made) == 2


def test_an_engine_rebuilt_inside_a_partitions_window_is_metered_there_not_in_a_second_window(monkeypatch):
    """A rebuild after an error happens while the partition's window is open on the same meters: a load window of
    its own read the same process's CPU time again (charged to notes and to engine_loads), from two samplers."""
    monkeypatch.setattr(engines, "VllmEngine", lambda spec: FakeEngine())
    monkeypatch.setattr(engines, "_ENGINES", {})
    meters = TaskMeters([TraceMeter(clock=time.monotonic, power=lambda t: 1.0)])
    opened, details = [], {}
    listener = lambda measurement, state: opened.append(state)  # noqa: E731
    engines.cached_engine(EngineSpec(model="m"), meters, MeteringSettings(sample_interval_s=0.0), listener, "r",
                          details=details, in_open_window=True)
    assert opened == [] and details["engine"] == engines.REBUILT

