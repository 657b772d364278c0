"""Which meters a task gets: the GPUs its engine uses (Spark's addresses, else CUDA_VISIBLE_DEVICES, else every
NVML device), always the host beside them (RAPL, else the labelled estimate), and NVML errors that fail the task
(energy.require_measured) or label its windows, never silently. Fake NVML devices and a fake RAPL tree."""

import pytest

from udfs.energy.vocabulary import INCOMPLETE, status_of
from tests.fakes import FakeNvml, fake_rapl_tree
from udfs.energy.monitor import EnergyMonitor
from udfs.energy.meters import ESTIMATE, GPU, HOST, RAPL, UNMETERED, MeteringError, gpu_meters, rapl_meter, task_meters

TWO_GPUS = {0: ("GPU-aaa", "NVIDIA H200", 5_000_000, 300_000), 1: ("GPU-bbb", "NVIDIA H200", 7_000_000, 250_000)}


def meters(tmp_path, addresses=(), visible=None, require=False, nvml=None, rapl=None):
    environ = {} if visible is None else {"CUDA_VISIBLE_DEVICES": visible}
    root = rapl if rapl is not None else tmp_path / "no-powercap"
    return task_meters(addresses, require, 10.0, 0.375, environ=environ, rapl_root=root,
                       nvml=nvml or FakeNvml(TWO_GPUS))


def test_local_mode_meters_every_gpu_nvml_sees_and_the_host(tmp_path):
    metered = meters(tmp_path)  # no Spark addresses, no CUDA_VISIBLE_DEVICES
    assert [m.device for m in metered.meters] == ["GPU-aaa", "GPU-bbb", "cpu"]
    assert [m.component for m in metered.meters] == [GPU, GPU, HOST]
    assert metered.meters[0].energy_j() == 5000.0 and metered.meters[1].power_w() == 250.0
    assert metered.meters[2].counter_source == ESTIMATE and metered.unmetered is None


@pytest.mark.parametrize("visible, expected", [("1", ["GPU-bbb"]), ("GPU-aaa", ["GPU-aaa"]),
                                               ("1,0", ["GPU-bbb", "GPU-aaa"]), ("", []), ("-1", []),
                                               ("0,-1,1", ["GPU-aaa"])])
def test_local_mode_meters_the_gpus_cuda_visible_devices_names(tmp_path, visible, expected):
    assert [m.device for m in meters(tmp_path, visible=visible).meters] == [*expected, "cpu"]


def test_spark_addresses_win_and_map_through_cuda_visible_devices(tmp_path):
    assert [m.device for m in meters(tmp_path, addresses=["0"], visible="1").meters] == ["GPU-bbb", "cpu"]
    assert [m.device for m in meters(tmp_path, addresses=["GPU-aaa"]).meters] == ["GPU-aaa", "cpu"]


def test_a_machine_without_an_nvidia_driver_is_a_host_only_task(tmp_path):
    for error in ("NVMLError_LibraryNotFound", "NVMLError_DriverNotLoaded"):
        metered = meters(tmp_path, nvml=FakeNvml(TWO_GPUS, init_error=error))
        assert [m.device for m in metered.meters] == ["cpu"] and metered.unmetered is None


def test_nvml_error_with_require_measured_fails_naming_the_device_and_the_error(tmp_path):
    with pytest.raises(MeteringError) as error:
        meters(tmp_path, addresses=["1"], require=True, nvml=FakeNvml(TWO_GPUS, broken=[1]))
    message = str(error.value)
    assert "energy.require_measured" in message and "GPU 1" in message and "NVMLError_GpuIsLost" in message
    assert "\n" not in message
    with pytest.raises(MeteringError, match="NVMLError_LibraryNotFound"):  # Spark gave GPUs, NVML has no driver
        meters(tmp_path, addresses=["0"], require=True, nvml=FakeNvml(TWO_GPUS, init_error="NVMLError_LibraryNotFound"))
    with pytest.raises(MeteringError, match="GPU 7 cannot be read"):
        meters(tmp_path, visible="7", require=True)


def test_nvml_error_without_require_measured_labels_every_window_incomplete_with_the_reason(tmp_path):
    metered = meters(tmp_path, addresses=["1"], nvml=FakeNvml(TWO_GPUS, broken=[1]))
    assert [m.device for m in metered.meters] == ["cpu"]
    assert "GPU 1" in metered.unmetered and "NVMLError_GpuIsLost" in metered.unmetered
    monitor = EnergyMonitor(metered.meters, 0.0, unmetered=metered.unmetered)
    m = monitor.end(monitor.begin())
    assert m.energy_source == f"{ESTIMATE},{UNMETERED}" and m.partial and "NVMLError_GpuIsLost" in m.partial_reason
    assert status_of([m.sources]) is INCOMPLETE  # the GPU's energy is missing, not estimated


def test_require_measured_without_gpus_needs_rapl(tmp_path):
    no_driver = FakeNvml({}, init_error="NVMLError_LibraryNotFound")
    with pytest.raises(MeteringError, match="no readable RAPL"):
        meters(tmp_path, require=True, nvml=no_driver)
    rapl = fake_rapl_tree(tmp_path / "powercap", {"package-0": 1000})
    [host] = meters(tmp_path, require=True, nvml=no_driver, rapl=rapl).meters
    assert host.counter_source == RAPL and host.component == HOST


def test_rapl_host_meter_sums_packages_and_dram_and_unwraps_a_counter_wrap(tmp_path):
    root = fake_rapl_tree(tmp_path / "powercap", {"package-0": 900_000, "psys": 5}, dram_uj=100)
    metered = meters(tmp_path, rapl=root)
    host = metered.meters[-1]
    assert host.counter_source == RAPL and [z.name for z in host.zones] == ["intel-rapl:0", "intel-rapl:0:0"]
    assert host.energy_j() == 0.0
    (root / "intel-rapl:0" / "energy_uj").write_text("100000\n")  # wrapped at 1,000,000 uJ: +200,000 uJ
    (root / "intel-rapl:0" / "intel-rapl:0:0" / "energy_uj").write_text("50100\n")  # dram +50,000 uJ
    assert host.energy_j() == pytest.approx(0.25)


def test_an_unreadable_rapl_counter_is_not_used(tmp_path):
    root = fake_rapl_tree(tmp_path / "powercap", {"package-0": 1})
    (root / "intel-rapl:0" / "energy_uj").write_text("")  # as when only root may read it
    assert rapl_meter(root) is None


def test_gpu_meters_reads_every_device_before_any_window_opens():
    assert [m.device for m in gpu_meters([], None, FakeNvml(TWO_GPUS))] == ["GPU-aaa", "GPU-bbb"]
    assert gpu_meters([], "", FakeNvml(TWO_GPUS)) == []
