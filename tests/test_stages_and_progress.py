"""Where a run's time goes (stage timings) and the live progress line read from the energy ledger."""

import time

import pytest

from udfs.energy.vocabulary import ESTIMATED, INCOMPLETE, MEASURED, NO_INFERENCE, PARTLY_ESTIMATED, status_of
from notewatt.progress import Progress, progress_line
from notewatt.stages import STAGE_COLUMNS, StageClock
from notewatt.tables import RUN_ROLLUP


def test_stages_add_up_and_only_known_ones_are_timed():
    clock = StageClock()
    with clock.stage("writes"):
        time.sleep(0.02)
    with clock.stage("writes"):
        time.sleep(0.02)
    assert clock.seconds["writes"] >= 0.04
    columns = clock.columns()
    assert columns["stage_writes_s"] == clock.seconds["writes"] and columns["stage_inference_s"] is None
    assert set(columns) == set(STAGE_COLUMNS) <= set(RUN_ROLLUP.columns) and "stage_mlflow_s" not in columns
    with pytest.raises(ValueError, match="unknown stage"):
        with clock.stage("lunch"):
            pass


@pytest.mark.parametrize("sources, status", [
    ([], NO_INFERENCE), ([("nvml_counter",), ("rapl",)], MEASURED), ([("estimate",), ("estimate",)], ESTIMATED),
    ([("estimate", "nvml_counter")], PARTLY_ESTIMATED), ([("estimate",), ("nvml_counter",)], PARTLY_ESTIMATED),
    ([("nvml_counter",), ("rapl", "unmetered")], INCOMPLETE), ([("estimate", "unmetered")], INCOMPLETE),
    ([("no_reading",)], INCOMPLETE),
])
def test_one_rule_labels_a_set_of_windows(sources, status):
    assert status_of(sources) is status


def entry(partition, attempt, notes, energy_j, state="open", window="partition"):
    from udfs.energy.ledger import LedgerEntry
    from udfs.energy.monitor import DeviceReading, Measurement

    reading = DeviceReading("cpu", "cpu", "host", "process", "estimate", energy_j, None, None, 3)
    return LedgerEntry("r", window, state, "v", partition, attempt, "h", "e", 1,
                       Measurement(f"w{partition}-{attempt}-{window}", 0.0, 1.0, 1.0, 0.1, {"cpu": reading}),
                       notes=notes)


def test_the_progress_line_counts_the_latest_attempt_of_each_partition():
    entries = [entry(0, 0, 40, 360.0, "failed"), entry(0, 1, 10, 72.0), entry(1, 0, 30, 288.0, "closed"),
               entry(2, 0, 0, 99.0, window="engine_load")]
    line = progress_line(entries, 200, elapsed_s=120.0)
    assert line == ("inference: 40 of 200 notes (20.0 %), 0.1000 Wh so far [ESTIMATED], 2 min in, "
                    "about 8 min left")


def test_a_cascades_escalated_notes_are_counted_apart_from_the_notes_done():
    from dataclasses import replace

    entries = [entry(0, 0, 30, 360.0, "closed"), replace(entry(0, 0, 12, 360.0), variant="large")]
    line = progress_line(entries, 30, elapsed_s=60.0, escalated_to="large")
    assert line.startswith("inference: 30 of 30 notes (100.0 %) (+ 12 escalated), 0.2000 Wh so far")


def test_progress_lines_are_logged_while_the_block_runs(tmp_path, caplog):
    (tmp_path / "w.json").write_text(entry(0, 0, 5, 36.0).to_json())
    with caplog.at_level("INFO", logger="notewatt.progress"), Progress(str(tmp_path), 10, every_s=0.05):
        time.sleep(0.3)
    assert "inference: 5 of 10 notes (50.0 %), 0.0100 Wh so far [ESTIMATED]" in caplog.text
