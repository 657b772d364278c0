import time

import pytest

from notewatt.energy.vocabulary import INCOMPLETE, MEASURED, status_of
from tests.fakes import TraceMeter
from udfs.energy import EnergyMonitor, Sample, device_energy, idle_power_w, trapezoid_energy_j
from udfs.meters import UNMETERED, CpuTimeEstimateMeter, RaplMeter, physical_gpu_address


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


def test_a_device_error_mid_window_marks_it_partial_instead_of_raising():
    calls = {"n": 0}

    def flaky(t):
        calls["n"] += 1
        if calls["n"] > 3:
            raise OSError("device gone")
        return 50.0

    monitor = EnergyMonitor([TraceMeter(clock=time.monotonic, power=flaky)], sample_interval_s=0.01)
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
    assert [d.device for d in m.devices] == ["fake-gpu", "fake-gpu-2"]
    assert m.energy_j == pytest.approx(sum(d.energy_j for d in m.devices))
    assert m.devices[0].energy_source == "nvml_counter" and m.devices[1].energy_source == "nvml_power"
    assert m.devices[0].counter_start_j is not None and m.devices[1].counter_start_j is None
    assert m.idle_power_w == 15.0 and m.device == "fake-gpu,fake-gpu-2"


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
    assert m.devices[0].counter_start_j is None  # a stuck counter gives the driver no edges to split with


def test_a_stuck_gpu_beside_a_measured_host_makes_the_window_incomplete_not_measured():
    stuck = TraceMeter(clock=time.monotonic, energy=lambda t: 42.0)
    host = TraceMeter(clock=time.monotonic, power=lambda t: 50.0)
    host.device, host.component, host.counter_source, host.power_source = "cpu", "host", "rapl", "rapl"
    monitor = EnergyMonitor([stuck, host], sample_interval_s=0.01)
    window = monitor.begin()
    time.sleep(0.05)
    m = monitor.end(window)
    assert m.energy_j > 0 and m.energy_source == f"rapl,{UNMETERED}"
    assert status_of([m.energy_source]) is INCOMPLETE and status_of(["rapl", "nvml_counter"]) is MEASURED


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
