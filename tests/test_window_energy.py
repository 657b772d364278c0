"""Window energy from device rows on Spark: GPU and host parts, the measured share, and the devices' readings."""

import pytest

from notewatt.energy.windows import attribute_devices, with_window_energy

DEVICE_COLS = ("window_id string, host string, device string, component string, scope string, energy_source string, "
               "start_ts double, end_ts double, energy_j double, prompt_tokens long, output_tokens long, "
               "idle_power_w double, counter_start_j double, counter_end_j double")


def test_a_window_is_its_gpus_plus_its_host_with_the_measured_share(spark):
    devices = spark.createDataFrame([
        ("w1", "h1", "GPU-a", "gpu", "device", "nvml_counter", 0.0, 10.0, 100.0, 5, 5, 50.0, 1000.0, 1100.0),
        ("w1", "h1", "cpu", "host", "process", "estimate", 0.0, 10.0, 25.0, 5, 5, None, None, None),
        ("w2", "h2", "cpu", "host", "device", "rapl", 0.0, 10.0, 40.0, 5, 5, 2.0, None, None),
    ], DEVICE_COLS)
    windows = spark.createDataFrame([("w1", 0.0), ("w2", 0.0)], "window_id string, energy_j double")
    rows = {r.window_id: r for r in with_window_energy(windows, attribute_devices(devices)).collect()}
    w1, w2 = rows["w1"], rows["w2"]
    assert (w1.energy_j, w1.gpu_energy_j, w1.host_energy_j) == (125.0, 100.0, 25.0)
    assert w1.measured_share == pytest.approx(100 / 125) and w1.device_reading_j == 125.0
    assert (w2.energy_j, w2.gpu_energy_j, w2.host_energy_j, w2.measured_share) == (40.0, 0.0, 40.0, 1.0)
    assert w1.above_idle_available is False and w2.above_idle_available is True


def test_concurrent_windows_on_one_host_share_its_rapl_reading(spark):
    """Two windows overlapping for 5 of their 10 s on one RAPL package: each read the package's 100 W."""
    devices = spark.createDataFrame([
        ("w1", "h", "cpu", "host", "device", "rapl", 0.0, 10.0, 1000.0, 10, 10, None, None, None),
        ("w2", "h", "cpu", "host", "device", "rapl", 5.0, 15.0, 1000.0, 10, 10, None, None, None),
    ], DEVICE_COLS)
    rows = attribute_devices(devices).collect()
    assert sum(r.energy_j for r in rows) == pytest.approx(1500.0)  # the package's 15 s, not 20 s
    assert all(r.shared_device and r.device_reading_j == 1000.0 for r in rows)
