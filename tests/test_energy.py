import time

import pytest

from udfs.energy.vocabulary import INCOMPLETE, MEASURED, status_of
from tests.fakes import TraceMeter
from udfs.energy.monitor import EnergyMonitor, Sample, device_energy, idle_power_w, trapezoid_energy_j
from udfs.energy.meters import NO_READING, UNMETERED, CpuTimeEstimateMeter, RaplMeter, physical_gpu_address


def trace(power, t_end, dt=0.1, energy=None):
    """Samples of power(t) (and a counter energy(t)) every dt over [0, t_end]."""
    n = round(t_end / dt)
    return [
        Sample(i * dt, None if energy is None else energy(i * dt), None if power is None else power(i * dt))
        for i in range(n + 1)
    ]


def test_trapezoid_is_exact_for_a_ramp():
    samples = [(i / 10, 100 + 5 * i / 10) for i in range(0, 301)]  # 100 W -> 250 W over 30 s
    assert trapezoid_energy_j(samples) == pytest.approx(30 * (100 + 250) / 2, rel=1e-9)


@pytest.mark.parametrize(
    "power, expected_j",
    [
        (lambda t: 300.0, 300.0 * 30),  # steady
        (lambda t: 100.0 if t < 15 else 400.0, 100 * 15 + 400 * 15),  # step at a sample time
        (lambda t: 200.0 + (500.0 if abs(t - 10) < 1e-9 else 0.0), 200 * 30 + 500 * 0.1),  # one-sample spike
    ],
)
def test_power_integration_within_half_a_percent(power, expected_j):
    meter = TraceMeter(clock=lambda: 0.0)
    result = device_energy(meter, trace(power, 30))
    assert result.source == "nvml_power"
    assert result.energy_j == pytest.approx(expected_j, rel=0.005)


def test_counter_delta_is_preferred_and_peak_comes_from_power():
    samples = trace(lambda t: 250.0 if t < 5 else 150.0, 10, energy=lambda t: 1000.0 + 200.0 * t)
    result = device_energy(TraceMeter(clock=lambda: 0.0), samples)
    assert result.source == "nvml_counter"
    assert result.energy_j == pytest.approx(2000.0)
    assert result.peak_power_w == 250.0


def test_short_window_with_a_stuck_counter_falls_back_to_power_samples():
    samples = trace(lambda t: 120.0, 0.05, dt=0.01, energy=lambda t: 5000.0)  # counter did not tick
    result = device_energy(TraceMeter(clock=lambda: 0.0), samples)
    assert result.source == "nvml_power"
    assert result.energy_j == pytest.approx(120.0 * 0.05)


def test_gap_in_power_samples_is_bridged_linearly():
    samples = [s for s in trace(lambda t: 200.0, 10) if not 3.0 < s.t < 7.0]
    result = device_energy(TraceMeter(clock=lambda: 0.0), samples)
    assert result.energy_j == pytest.approx(2000.0, rel=0.005)


def test_monitor_window_with_sampler_thread_integrates_a_constant_load():
    meter = TraceMeter(clock=time.monotonic, power=lambda t: 80.0)
    monitor = EnergyMonitor([meter], sample_interval_s=0.01, idle_power_w=[20.0])
    window = monitor.begin()
    time.sleep(0.3)
    m = monitor.end(window)
    assert m.energy_source == "nvml_power"
    assert m.energy_j == pytest.approx(80.0 * m.duration_s, rel=0.1)
    assert m.samples > 10 and m.peak_power_w == 80.0 and m.idle_power_w == 20.0 and not m.partial


def failing_after(readings: int):
    """A power reading that raises OSError after `readings` good ones."""
    calls = {"n": 0}

    def power(t):
        calls["n"] += 1
        if calls["n"] > readings:
            raise OSError("device gone")
        return 50.0

    return power


def test_a_device_error_mid_window_marks_it_partial_instead_of_raising():
    monitor = EnergyMonitor([TraceMeter(clock=time.monotonic, power=failing_after(3))], sample_interval_s=0.01)
    window = monitor.begin()
    time.sleep(0.1)
    m = monitor.end(window)
    assert m.partial and "OSError" in m.partial_reason


def test_rapl_counter_wraparound(tmp_path):
    zone = tmp_path / "intel-rapl:0"
    zone.mkdir()
    (zone / "max_energy_range_uj").write_text("1000000\n")
    (zone / "energy_uj").write_text("900000\n")
    meter = RaplMeter(zones=[zone])
    assert meter.energy_j() == 0.0
    (zone / "energy_uj").write_text("100000\n")  # wrapped: +200000 uJ
    assert meter.energy_j() == pytest.approx(0.2)


def test_cpu_estimate_counts_cpu_time_and_is_labelled():
    meter = CpuTimeEstimateMeter(watts_per_core=10.0)
    assert (meter.counter_source, meter.component, meter.scope) == ("estimate", "host", "process")
    before = meter.energy_j()
    sum(i * i for i in range(200_000))
    assert meter.energy_j() > before


@pytest.mark.parametrize(
    "address, visible, expected",
    [("0", None, "0"), ("1", "2,3", "3"), ("0", "GPU-abc,GPU-def", "GPU-abc"), ("GPU-xyz", "0,1", "GPU-xyz"), ("5", "0,1", "5")],
)
def test_spark_gpu_address_maps_through_cuda_visible_devices(address, visible, expected):
    assert physical_gpu_address(address, visible) == expected


def test_two_devices_are_summed_and_kept_one_by_one():
    a = TraceMeter(clock=time.monotonic, energy=lambda t: 100.0 * t)
    b = TraceMeter(clock=time.monotonic, power=lambda t: 40.0)
    b.device = "fake-gpu-2"
    monitor = EnergyMonitor([a, b], sample_interval_s=0.01, idle_power_w=[10.0, 5.0])
    window = monitor.begin()
    time.sleep(0.2)
    m = monitor.end(window)
    assert list(m.devices) == ["fake-gpu", "fake-gpu-2"]
    first, second = m.devices.values()
    assert m.energy_j == pytest.approx(first.energy_j + second.energy_j)
    assert first.energy_source == "nvml_counter" and second.energy_source == "nvml_power"
    assert first.counter_start_j is not None and second.counter_start_j is None
    assert m.idle_power_w == 15.0 and m.sources == ("nvml_counter", "nvml_power")


def test_idle_power_from_power_readings_or_a_counter_rate():
    assert idle_power_w(TraceMeter(clock=time.monotonic, power=lambda t: 70.0), seconds=0.05) == 70.0
    counter_only = TraceMeter(clock=time.monotonic, energy=lambda t: 30.0 * t)
    assert idle_power_w(counter_only, seconds=0.1) == pytest.approx(30.0, rel=0.01)
    assert idle_power_w(CpuTimeEstimateMeter(watts_per_core=10.0), seconds=0.05) is None


def test_cpu_estimate_adds_resident_memory_over_time():
    cpu_only, with_dram = CpuTimeEstimateMeter(10.0), CpuTimeEstimateMeter(10.0, dram_watts_per_gib=1000.0)
    start = with_dram.energy_j() - cpu_only.energy_j()
    time.sleep(0.2)
    dram_j = (with_dram.energy_j() - cpu_only.energy_j()) - start
    assert dram_j > 0 and with_dram.scope == "process" and with_dram.device_name == "cpu+dram (estimate)"


def test_a_counter_that_did_not_advance_falls_back_to_power_samples():
    samples = trace(lambda t: 90.0, 2.0, energy=lambda t: 777.0)  # the counter is stuck for 2 s
    result = device_energy(TraceMeter(clock=lambda: 0.0), samples)
    assert (result.source, result.problem) == ("nvml_power", None)
    assert result.energy_j == pytest.approx(180.0)


def test_a_counter_that_did_not_advance_without_power_samples_is_partial_not_0_j_measured():
    stuck = TraceMeter(clock=time.monotonic, energy=lambda t: 42.0)  # a counter, no power reading
    monitor = EnergyMonitor([stuck], sample_interval_s=0.01)
    window = monitor.begin()
    time.sleep(0.05)
    m = monitor.end(window)
    assert m.energy_j == 0.0 and m.partial and m.energy_source == UNMETERED  # missing, not a 0 J measurement
    assert "fake-gpu: energy counter did not advance" in m.partial_reason
    assert m.devices["fake-gpu"].counter_start_j is None  # a stuck counter gives the driver no edges to split with


def test_a_stuck_gpu_beside_a_measured_host_makes_the_window_incomplete_not_measured():
    stuck = TraceMeter(clock=time.monotonic, energy=lambda t: 42.0)
    host = TraceMeter(clock=time.monotonic, power=lambda t: 50.0)
    host.device, host.component, host.counter_source, host.power_source = "cpu", "host", "rapl", "rapl"
    monitor = EnergyMonitor([stuck, host], sample_interval_s=0.01)
    window = monitor.begin()
    time.sleep(0.05)
    m = monitor.end(window)
    assert m.energy_j > 0 and m.energy_source == f"rapl,{UNMETERED}"
    assert status_of([m.sources]) is INCOMPLETE and status_of([("rapl",), ("nvml_counter",)]) is MEASURED


def test_a_window_with_no_reading_yet_names_no_counter_source():
    """The ledger entry a window writes as it begins has 0 J: it is labelled as not read, never with a meter's
    counter source (it used to say nvml_counter)."""
    monitor = EnergyMonitor([TraceMeter(clock=time.monotonic, energy=lambda t: 5.0 * t)], sample_interval_s=0.0)
    seen = []
    monitor.begin(lambda m, state: seen.append((m, state)))
    [(opened, state)] = seen
    assert state == "open" and opened.energy_j == 0 and opened.sources == (NO_READING,)
    assert status_of([opened.sources]) is INCOMPLETE


def test_a_failing_meter_fails_only_its_own_device():
    """One meter raising mid-window used to stop the sampling and final readings of every meter."""
    broken = TraceMeter(clock=time.monotonic, power=failing_after(3))
    healthy = TraceMeter(clock=time.monotonic, energy=lambda t: 100.0 * t)
    healthy.device = "fake-gpu-2"
    monitor = EnergyMonitor([broken, healthy], sample_interval_s=0.01)
    window = monitor.begin()
    time.sleep(0.2)
    m = monitor.end(window)
    assert m.devices["fake-gpu"].partial_reason == "fake-gpu: sampling failed: OSError"
    assert m.devices["fake-gpu-2"].partial_reason is None and m.devices["fake-gpu-2"].samples > 10
    assert m.devices["fake-gpu-2"].energy_j == pytest.approx(100.0 * m.duration_s, rel=0.1)  # read to the end
    assert m.partial and status_of([m.sources], incomplete=m.partial) is INCOMPLETE


def test_a_meter_that_fails_at_once_leaves_its_device_unmetered_not_absent():
    def broken(t):
        raise OSError("no device")

    monitor = EnergyMonitor([TraceMeter(clock=time.monotonic, power=broken)], sample_interval_s=0.01)
    m = monitor.end(monitor.begin())
    [device] = m.devices.values()
    assert (device.energy_source, device.energy_j) == (UNMETERED, 0.0) and "first reading failed" in m.partial_reason


def test_a_partial_window_is_not_labelled_measured():
    """A window whose measured device lost its final reading is a lower bound: incomplete, whatever its sources."""
    assert status_of([("nvml_counter", "rapl")], incomplete=True) is INCOMPLETE
    assert status_of([("nvml_counter", "rapl")]) is MEASURED


def test_an_estimate_that_left_the_children_out_says_so(monkeypatch):
    import psutil

    meter = CpuTimeEstimateMeter(watts_per_core=10.0)

    def denied(self, recursive=False):
        raise psutil.AccessDenied()

    monkeypatch.setattr(psutil.Process, "children", denied)
    meter.energy_j()
    assert meter.problem and "child processes not listed (AccessDenied)" in meter.problem
    monitor = EnergyMonitor([meter], sample_interval_s=0.0)
    assert "child processes not listed" in monitor.end(monitor.begin()).partial_reason


def test_a_gpu_with_a_counter_but_no_power_reading_is_metered_by_its_counter():
    """NVML's NotSupported for power used to reject such a GPU before any window opened."""
    from tests.fakes import FakeNvml
    from udfs.energy.meters import gpu_meters

    [meter] = gpu_meters(["0"], None, FakeNvml({0: ("GPU-0", "Fake", 5_000, None)}))
    assert meter.power_w() is None and meter.energy_j() == 5.0


def test_a_window_that_reads_0_j_is_logged(caplog):
    monitor = EnergyMonitor([TraceMeter(clock=time.monotonic, energy=lambda t: 1.0)], sample_interval_s=0.0)
    with caplog.at_level("WARNING", logger="notewatt.energy"):
        monitor.end(monitor.begin())
    assert "read 0 J" in caplog.text


def test_ending_a_window_twice_returns_the_same_measurement():
    monitor = EnergyMonitor([TraceMeter(clock=time.monotonic, power=lambda t: 10.0)], sample_interval_s=0.01)
    window = monitor.begin()
    first = monitor.end(window)
    assert monitor.end(window) is first
