"""A window's energy from its ledger entry: GPU and host parts, the measured share, the devices' readings, and devices
shared by overlapping windows apportioned so that no joule counts twice."""

import pytest

from udfs.energy.accounting import account, device_rows, window_row
from udfs.energy.ledger import CLOSED, ENGINE_LOAD, LedgerEntry
from udfs.energy.monitor import DeviceReading, Measurement


def reading(device, component, scope, source, energy_j, idle=None, edges=(None, None)):
    return DeviceReading(device, device, component, scope, source, energy_j, None, idle, 10, *edges)


def window(window_id, host, start, end, *devices, kind="partition", tokens=10):
    m = Measurement(window_id, start, end, end - start, 0.1, {d.device: d for d in devices})
    return LedgerEntry("r", kind, CLOSED, "v", 0, 0, host, "e", 1, m, prompt_tokens=tokens, output_tokens=tokens)


def test_a_window_is_its_gpus_plus_its_host_with_the_measured_share():
    w1 = window("w1", "h1", 0.0, 10.0, reading("GPU-a", "gpu", "device", "nvml_counter", 100.0, 5.0, (1000.0, 1100.0)),
                reading("cpu", "host", "process", "estimate", 25.0))
    w2 = window("w2", "h2", 0.0, 10.0, reading("cpu", "host", "device", "rapl", 40.0, 2.0))
    energy = account([w1, w2], {"w1", "w2"})
    rows = {e.window_id: window_row(e, energy.attributed) for e in energy.partitions}
    one, two = rows["w1"], rows["w2"]
    assert (one["energy_j"], one["gpu_energy_j"], one["host_energy_j"]) == (125.0, 100.0, 25.0)
    assert one["measured_share"] == pytest.approx(100 / 125) and one["device_reading_j"] == 125.0
    assert (two["energy_j"], two["gpu_energy_j"], two["host_energy_j"], two["measured_share"]) == (40.0, 0.0, 40.0, 1.0)
    assert one["above_idle_available"] is False and two["above_idle_available"] is True
    assert one["energy_source"] == "estimate,nvml_counter" and one["device"] == "GPU-a,cpu"


def test_concurrent_windows_on_one_host_share_its_rapl_reading():
    """Two windows overlapping for 5 of their 10 s on one RAPL package: each read the package's 100 W."""
    w1 = window("w1", "h", 0.0, 10.0, reading("cpu", "host", "device", "rapl", 1000.0))
    w2 = window("w2", "h", 5.0, 15.0, reading("cpu", "host", "device", "rapl", 1000.0))
    energy = account([w1, w2], {"w1", "w2"})
    rows = [r for e in energy.partitions for r in device_rows(e, energy.attributed)]
    assert sum(r["energy_j"] for r in rows) == pytest.approx(1500.0)  # the package's 15 s, not 20 s
    assert all(r["shared_device"] and r["device_reading_j"] == 1000.0 for r in rows)


def test_an_engine_load_shares_its_host_with_a_partition_of_another_worker():
    load = window("load", "h", 0.0, 10.0, reading("cpu", "host", "device", "rapl", 500.0), kind=ENGINE_LOAD, tokens=0)
    part = window("part", "h", 0.0, 10.0, reading("cpu", "host", "device", "rapl", 500.0))
    energy = account([load, part], {"part"})
    shares = {e.window_id: window_row(e, energy.attributed)["energy_j"] for e in [*energy.partitions, *energy.loads]}
    assert shares == {"load": pytest.approx(250.0), "part": pytest.approx(250.0)}  # one 500 J package, split equally
