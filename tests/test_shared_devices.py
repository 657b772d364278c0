"""Apportioning a device shared by overlapping windows, on synthetic device timelines of known energy."""

import pytest

from udfs.energy.shared_devices import DeviceWindow, apportion

IDLE_W = 50.0


def device_power(t, windows):
    """Idle plus 100 W for each window running at time t."""
    return IDLE_W + 100.0 * sum(start <= t < end for start, end in windows)


def counter(t, windows, dt=0.001):
    """The device's cumulative energy at t (a Riemann sum of device_power, exact for these steps)."""
    steps = int(round(t / dt))
    return sum(device_power(i * dt, windows) for i in range(steps)) * dt


def measured(spans, tokens, with_counter=True):
    """What each window reads: the whole device's energy over its span."""
    out = []
    for (start, end), n in zip(spans, tokens):
        c0, c1 = counter(start, spans), counter(end, spans)
        out.append(DeviceWindow(start, end, c1 - c0, n, IDLE_W, *((c0, c1) if with_counter else (None, None))))
    return out


def test_windows_that_do_not_overlap_keep_what_they_measured():
    windows = measured([(0, 5), (6, 9)], [100, 100])
    result = apportion(windows)
    assert [r.energy_j for r in result] == pytest.approx([w.energy_j for w in windows])
    assert [r.overlap_s for r in result] == [0.0, 0.0]
    assert result[0].above_idle_j == pytest.approx(100.0 * 5)


def test_overlapping_counter_windows_sum_to_the_device_energy_exactly():
    spans = [(0, 10), (5, 15)]
    windows = measured(spans, [100, 100])
    naive = sum(w.energy_j for w in windows)
    result = apportion(windows)
    device_total = counter(15, spans)
    assert naive == pytest.approx(device_total + 250 * 5, rel=1e-6)  # the shared 5 s counted twice
    assert sum(r.energy_j for r in result) == pytest.approx(device_total, rel=1e-6)
    assert sum(r.above_idle_j for r in result) == pytest.approx(device_total - IDLE_W * 15, rel=1e-6)
    assert [r.overlap_s for r in result] == [5.0, 5.0]


def test_shared_time_is_split_by_token_rate():
    spans = [(0, 10), (0, 10)]
    result = apportion(measured(spans, [300, 100]))
    total = counter(10, spans)
    assert [r.energy_j for r in result] == pytest.approx([0.75 * total, 0.25 * total], rel=1e-6)


def test_a_window_without_tokens_gets_an_equal_share():
    result = apportion(measured([(0, 4), (0, 4)], [0, 500]))
    assert result[0].energy_j == pytest.approx(result[1].energy_j)


def test_without_counters_overlap_is_estimated_from_mean_power_and_never_double_counts():
    spans = [(0, 10), (5, 15)]
    windows = measured(spans, [100, 100], with_counter=False)
    result = apportion(windows)
    total = sum(r.energy_j for r in result)
    assert total < sum(w.energy_j for w in windows)
    assert total == pytest.approx(counter(15, spans), rel=0.1)  # constant-power assumption: 9 % off here


def test_unknown_idle_leaves_above_idle_unavailable():
    windows = [DeviceWindow(0, 1, 10.0, 5, None)]
    assert apportion(windows)[0].above_idle_j is None


def test_a_shared_counter_is_split_exactly_and_each_device_row_keeps_its_reading():
    from tests.test_window_energy import reading, window
    from udfs.energy.accounting import account, device_rows

    spans, tokens = [(0, 10), (5, 15)], [100, 100]
    entries = [window(f"w{i}", "h", w.start_ts, w.end_ts,
                      reading("GPU-a", "gpu", "device", "nvml_counter", w.energy_j, IDLE_W,
                              (w.counter_start_j, w.counter_end_j)), tokens=n)
               for i, (w, n) in enumerate(zip(measured(spans, tokens), tokens))]
    energy = account(entries, {"w0", "w1"})
    rows = [r for e in energy.partitions for r in device_rows(e, energy.attributed)]
    assert [r["device_reading_j"] for r in rows] == pytest.approx([e.measurement.energy_j for e in entries])
    assert sum(r["energy_j"] for r in rows) == pytest.approx(counter(15, spans), rel=1e-6)
    assert [r["shared_device"] for r in rows] == [True, True] and all(r["above_idle_available"] for r in rows)


def test_per_process_estimates_pass_through():
    from tests.test_window_energy import reading, window
    from udfs.energy.accounting import account, device_rows

    entries = [window(f"w{i}", "h", 0.0, 10.0, reading("cpu", "host", "process", "estimate", j))
               for i, j in enumerate((30.0, 40.0))]
    energy = account(entries, {"w0", "w1"})
    rows = [r for e in energy.partitions for r in device_rows(e, energy.attributed)]
    assert [r["energy_j"] for r in rows] == [30.0, 40.0] and not any(r["shared_device"] for r in rows)
    assert not any(r["above_idle_available"] for r in rows)
