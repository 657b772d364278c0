"""Exception-safe windows and the energy ledger, the run's only record of energy: a window that raises is closed (no
sampler thread survives) and leaves its energy; heartbeats leave an open window's energy so far; the run's account
keeps the windows its notes name, counts every engine load and warm-up, and the other partition windows as
discarded attempts."""

import json
import threading
import time

import pandas as pd
import pytest

from tests.fakes import FakeEngine, TraceMeter
from tests.test_partition_function import TASK, notes, settings
from udfs.abstract_partition import TOKEN_COUNTS, abstract_batches
from udfs.energy.accounting import account
from udfs.energy.ledger import CLOSED, ENGINE_LOAD, FAILED, OPEN, WARM_UP, EnergyLedger, LedgerEntry, read_entries
from udfs.energy.monitor import DeviceReading, EnergyMonitor, Measurement
from udfs.energy.task import MeteringSettings, ledger_listener


def samplers() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "energy-sampler"]


def listener(folder, window="partition"):
    return ledger_listener(MeteringSettings(ledger_folder=str(folder)), "r1", "v", TASK, window)


class BreakingEngine(FakeEngine):
    """Answers the first batch, then fails outside generate (an engine error inside generate only marks its
    batch's notes `error`): building the next batch's prompts raises, and the partition with it."""

    def render(self, messages):
        if self.calls:
            time.sleep(0.05)
            raise MemoryError("tokenizer out of memory")
        return super().render(messages)


def test_a_partition_that_raises_closes_its_window_and_leaves_its_energy(tmp_path):
    meter = TraceMeter(clock=time.monotonic, power=lambda t: 120.0)
    monitor = EnergyMonitor([meter], sample_interval_s=0.01)
    rows = abstract_batches(iter([notes(2), notes(2)]), settings(batch_size=2), BreakingEngine, monitor, TASK,
                            listener(tmp_path))
    next(rows)  # the first batch's notes
    assert len(samplers()) == 1
    with pytest.raises(MemoryError):
        next(rows)
    assert samplers() == []  # joined before the error propagated
    [entry] = read_entries(str(tmp_path))
    assert entry.state == FAILED and entry.measurement.energy_j > 0 and entry.task_attempt == TASK.task_attempt
    assert entry.measurement.sources == ("nvml_power",) and entry.window == "partition"


def test_a_partition_closed_midway_by_spark_ends_its_window_too(tmp_path):
    monitor = EnergyMonitor([TraceMeter(clock=time.monotonic, power=lambda t: 50.0)], sample_interval_s=0.01)
    rows = abstract_batches(iter([notes(2), notes(2)]), settings(batch_size=2), FakeEngine, monitor, TASK,
                            listener(tmp_path))
    next(rows)
    rows.close()  # what happens to the generator when the task is cancelled
    assert samplers() == [] and read_entries(str(tmp_path))[0].state == FAILED


def test_a_finished_partition_leaves_a_closed_entry_with_its_window_id(tmp_path):
    meter = TraceMeter(clock=time.monotonic, power=lambda t: 50.0)
    frames = list(abstract_batches(iter([notes(3)]), settings(), FakeEngine, EnergyMonitor([meter], 0.01), TASK,
                                   listener(tmp_path)))
    [entry] = read_entries(str(tmp_path))
    assert (entry.state, {entry.window_id}) == (CLOSED, set(pd.concat(frames).window_id))
    assert entry.measurement.energy_j > 0


def test_heartbeats_leave_an_open_windows_energy_so_far(tmp_path):
    monitor = EnergyMonitor([TraceMeter(clock=time.monotonic, power=lambda t: 100.0)], 0.01, heartbeat_s=0.05)
    window = monitor.begin(listener(tmp_path))
    time.sleep(0.3)
    [beat] = read_entries(str(tmp_path))  # what a killed attempt would leave
    m = beat.measurement
    assert beat.state == OPEN and m.energy_j == pytest.approx(100.0 * (m.end_ts - m.start_ts), rel=0.2)
    assert m.energy_j > 10
    monitor.end(window)
    assert read_entries(str(tmp_path))[0].state == CLOSED


def test_an_unwritable_ledger_never_fails_the_window(tmp_path, caplog):
    blocker = tmp_path / "file"
    blocker.write_text("")
    monitor = EnergyMonitor([TraceMeter(clock=time.monotonic, power=lambda t: 1.0)], 0.0)
    with caplog.at_level("WARNING", logger="notewatt.ledger"):
        m = monitor.end(monitor.begin(listener(blocker / "ledger")))
    assert not m.partial and "not writable" in caplog.text


def entry(window_id, energy_j, state=CLOSED, attempt=0, window="partition", source="estimate", pid=1, partial=None):
    device = DeviceReading("cpu", "cpu", "host", "process", source, energy_j, None, None, 5, partial_reason=partial)
    return LedgerEntry("r1", window, state, "v", 0, attempt, "h", "e", pid,
                       Measurement(window_id, 0.0, 1.0, 1.0, 0.1, {"cpu": device}), notes=2, output_tokens=10)


def test_the_account_keeps_the_windows_the_notes_name_and_counts_the_others_as_discarded(tmp_path):
    ledger = EnergyLedger(str(tmp_path))
    for e in (entry("kept-a", 10.0), entry("kept-b", 20.0, attempt=1), entry("failed", 7.5, FAILED),
              entry("killed", 2.5, OPEN), entry("load", 3.0, window=ENGINE_LOAD)):
        ledger.record(e)
    energy = account(read_entries(str(tmp_path)), {"kept-a", "kept-b"})
    assert sorted(e.window_id for e in energy.partitions) == ["kept-a", "kept-b"] and not energy.missing
    assert (energy.retry.energy_j, energy.retry.windows) == (10.0, 2)
    assert (energy.retry.unfinished, energy.retry.status) == (1, "estimated")  # "killed" counts to its last heartbeat
    assert (energy.engine_loads.energy_j, energy.engine_loads.windows) == (3.0, 1)  # a load is never a retry
    nothing = account(read_entries(str(tmp_path)), {"kept-a", "kept-b", "failed", "killed"})
    assert (nothing.retry.energy_j, nothing.retry.windows, nothing.retry.unfinished, nothing.retry.status) == (
        0.0, 0, 0, None)


def test_every_warm_up_is_engine_load_energy_and_those_of_idle_workers_are_counted(tmp_path):
    ledger = EnergyLedger(str(tmp_path))
    for e in (entry("kept-a", 10.0, pid=1), entry("reported", 4.0, window=WARM_UP, pid=1),
              entry("unused", 6.0, window=WARM_UP, pid=2), entry("importing", 1.5, OPEN, window=WARM_UP, pid=3)):
        ledger.record(e)
    energy = account(read_entries(str(tmp_path)), {"kept-a"})
    assert (energy.retry.energy_j, energy.retry.windows) == (0.0, 0)
    loads = energy.engine_loads
    assert (loads.energy_j, loads.windows, loads.unfinished) == (11.5, 3, 1)
    assert energy.unreported_warm_ups == 2  # workers 2 and 3 ran no kept partition


def test_a_kept_window_the_ledger_lacks_makes_the_run_incomplete(tmp_path):
    EnergyLedger(str(tmp_path)).record(entry("kept-a", 10.0))
    energy = account(read_entries(str(tmp_path)), {"kept-a", "never-written"})
    assert energy.missing == ("never-written",) and energy.status().name == "incomplete"
    assert "the energy ledger lacks 1 of the run's windows" in energy.partial_reasons()


def test_a_partial_kept_window_makes_the_run_incomplete_with_its_reason(tmp_path):
    EnergyLedger(str(tmp_path)).record(entry("kept-a", 10.0, source="rapl", partial="cpu: the final reading failed"))
    energy = account(read_entries(str(tmp_path)), {"kept-a"})
    assert energy.status().name == "incomplete" and energy.partial_reasons() == ["cpu: the final reading failed"]


def test_a_window_leaves_an_open_entry_as_it_begins(tmp_path):
    monitor = EnergyMonitor([TraceMeter(clock=time.monotonic, power=lambda t: 100.0)], 0.01, heartbeat_s=60)
    window = monitor.begin(listener(tmp_path))
    [opened] = read_entries(str(tmp_path))  # an attempt killed now, before its first heartbeat, is still seen
    assert (opened.state, opened.window_id, opened.measurement.energy_j) == (OPEN, window.window_id, 0.0)
    monitor.end(window)


def test_ledger_entries_hold_ids_and_figures_only_and_read_back_whole(tmp_path):
    written = entry("w", 1.0)
    EnergyLedger(str(tmp_path)).record(written)
    [path] = tmp_path.glob("*.json")
    record = json.loads(path.read_text())
    assert set(record) == set(LedgerEntry.__dataclass_fields__)
    assert set(record["measurement"]) == set(Measurement.__dataclass_fields__)
    assert read_entries(str(tmp_path)) == [written]  # the readings per device, as the window had them


def test_a_partitions_entries_carry_its_notes_and_output_tokens_so_far(tmp_path):
    progress = dict.fromkeys(TOKEN_COUNTS, 0)
    attempt = tmp_path / "r1" / "1700000000000"  # a run's folder holds one folder per job attempt
    listen = ledger_listener(MeteringSettings(ledger_folder=str(attempt)), "r1", "v", TASK, "partition", progress)
    monitor = EnergyMonitor([TraceMeter(clock=time.monotonic, power=lambda t: 10.0)], 0.0)
    frames = list(abstract_batches(iter([notes(3)]), settings(), FakeEngine, monitor, TASK, listen, progress))
    [entry] = read_entries(str(tmp_path / "r1"), recursive=True)
    assert (entry.notes, entry.output_tokens) == (3, 3 * 7) == (progress["notes"], progress["output_tokens"])
    assert (entry.prompt_tokens, entry.cached_prompt_tokens) == (int(pd.concat(frames).prompt_tokens.sum()), 9)
    assert read_entries(str(tmp_path / "r1")) == []  # not below the folder unless asked



class SlowSecondHalf(FakeEngine):
    """One generate call over the whole partition (batch_size unset): two of its four prompts finish, then the
    call runs on while the window's heartbeats write the ledger; what the ledger held then is kept."""

    def __init__(self, ledger_folder):
        super().__init__()
        self.ledger_folder, self.mid_call = ledger_folder, None

    def generate(self, prompts, max_tokens, temperature, schema, on_finished=None):
        on_finished(2)
        time.sleep(0.3)
        self.mid_call = read_entries(self.ledger_folder)
        on_finished(len(prompts) - 2)
        return super().generate(prompts, max_tokens, temperature, schema)


def test_a_heartbeat_inside_one_long_generate_call_counts_the_notes_already_finished(tmp_path):
    progress = dict.fromkeys(TOKEN_COUNTS, 0)
    listen = ledger_listener(MeteringSettings(ledger_folder=str(tmp_path)), "r1", "v", TASK, "partition", progress)
    monitor = EnergyMonitor([TraceMeter(clock=time.monotonic, power=lambda t: 10.0)], 0.01, heartbeat_s=0.05)
    engine = SlowSecondHalf(str(tmp_path))
    frames = list(abstract_batches(iter([notes(4)]), settings(), lambda: engine, monitor, TASK, listen, progress))
    [mid_call] = engine.mid_call
    assert (mid_call.notes, mid_call.state) == (2, OPEN)
    [done] = read_entries(str(tmp_path))
    assert (done.notes, done.state) == (4, CLOSED) and len(pd.concat(frames)) == 4
