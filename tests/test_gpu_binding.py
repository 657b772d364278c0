"""GPU binding and discovery on synthetic resource assignments (no GPU needed)."""

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from udfs.gpu_binding import (
    BOUND_GPUS, CUDA_VISIBLE_DEVICES, EXECUTOR_VISIBLE, GpuBindingError, bind_task_gpus, bound_addresses,
)
from udfs.energy.meters import physical_gpu_address

DISCOVERY = Path(__file__).resolve().parents[1] / "scripts" / "gpu_discovery.sh"

# (executor's CUDA_VISIBLE_DEVICES or None, the task's Spark addresses, the physical devices they name)
ASSIGNMENTS = [
    (None, ("0",), "0"),
    (None, ("3",), "3"),
    (None, ("1", "2"), "1,2"),  # positions 0/1 of the bound list differ from the addresses
    (None, ("2", "0"), "2,0"),
    (None, ("GPU-aaaa",), "GPU-aaaa"),
    (None, ("GPU-bbbb", "GPU-aaaa"), "GPU-bbbb,GPU-aaaa"),
    ("4,5,6,7", ("1",), "5"),  # YARN/K8s-style: addresses are positions in the executor's list
    ("4,5,6,7", ("1", "3"), "5,7"),
    ("GPU-aaaa,GPU-bbbb", ("1",), "GPU-bbbb"),
    ("2", ("0",), "2"),
]


@pytest.mark.parametrize("executor_cvd, addresses, physical", ASSIGNMENTS)
def test_binding_makes_cuda_see_exactly_the_tasks_devices(executor_cvd, addresses, physical):
    environ = {} if executor_cvd is None else {CUDA_VISIBLE_DEVICES: executor_cvd}
    assert bind_task_gpus(addresses, environ) == physical
    assert environ[CUDA_VISIBLE_DEVICES] == physical
    assert environ["CUDA_DEVICE_ORDER"] == "PCI_BUS_ID"


@pytest.mark.parametrize("executor_cvd, addresses, physical", ASSIGNMENTS)
def test_metering_resolves_the_same_devices_before_and_after_binding(executor_cvd, addresses, physical):
    before = [physical_gpu_address(a, executor_cvd) for a in addresses]
    environ = {} if executor_cvd is None else {CUDA_VISIBLE_DEVICES: executor_cvd}
    visible = bind_task_gpus(addresses, environ)
    after = [physical_gpu_address(a, environ[CUDA_VISIBLE_DEVICES]) for a in bound_addresses(visible)]
    assert before == after == physical.split(",")


def test_a_cpu_task_leaves_the_environment_alone():
    environ = {CUDA_VISIBLE_DEVICES: "1"}
    assert bind_task_gpus((), environ) is None
    assert environ == {CUDA_VISIBLE_DEVICES: "1"}
    assert bound_addresses(None) == ()


def test_a_reused_worker_keeps_its_binding_for_the_same_gpus():
    environ = {CUDA_VISIBLE_DEVICES: "4,5,6,7"}
    assert bind_task_gpus(("1", "3"), environ) == "5,7"
    # The next task on this worker: its addresses still count in the executor's list, not in "5,7".
    assert bind_task_gpus(("3", "1"), environ) == "5,7"
    assert environ[CUDA_VISIBLE_DEVICES] == "5,7" and environ[EXECUTOR_VISIBLE] == "4,5,6,7"


def test_a_reused_worker_asked_for_other_gpus_fails_clearly_and_changes_nothing():
    environ = {}
    bind_task_gpus(("0",), environ)
    before = dict(environ)
    with pytest.raises(GpuBindingError, match=r"bound to GPU\(s\) 0 .* assigned 1"):
        bind_task_gpus(("1",), environ)
    assert environ == before


def test_binding_without_an_executor_list_records_none():
    environ = {}
    bind_task_gpus(("2",), environ)
    assert EXECUTOR_VISIBLE not in environ and environ[BOUND_GPUS] == "2"


def test_binding_defaults_to_the_process_environment(monkeypatch):
    monkeypatch.delenv(CUDA_VISIBLE_DEVICES, raising=False)
    monkeypatch.delenv(BOUND_GPUS, raising=False)
    monkeypatch.delenv("CUDA_DEVICE_ORDER", raising=False)
    assert bind_task_gpus(("GPU-cccc",)) == "GPU-cccc"
    assert os.environ[CUDA_VISIBLE_DEVICES] == "GPU-cccc"


# --- scripts/gpu_discovery.sh, with a stand-in nvidia-smi --------------------------------------------------


def discover(tmp_path, gpus: int | None, cuda_visible_devices: str | None = None) -> list[str]:
    """Run the discovery script with `gpus` fake GPUs (None: no nvidia-smi at all) and return its addresses."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    if gpus is not None:
        fake = bin_dir / "nvidia-smi"
        fake.write_text("#!/bin/sh\n" + "".join(f"echo {i}\n" for i in range(gpus)))
        fake.chmod(0o755)
    env = {"PATH": str(bin_dir)}
    if cuda_visible_devices is not None:
        env[CUDA_VISIBLE_DEVICES] = cuda_visible_devices
    out = subprocess.run([shutil.which("bash"), str(DISCOVERY)], env=env, capture_output=True, text=True, check=True)
    resource = json.loads(out.stdout)
    assert resource["name"] == "gpu"
    return resource["addresses"]


def test_discovery_script_is_executable():
    assert os.access(DISCOVERY, os.X_OK)


@pytest.mark.parametrize(
    "gpus, cvd, expected",
    [
        (None, None, []),  # no nvidia-smi: a CPU node
        (0, None, []),
        (2, None, ["0", "1"]),
        (4, "3,1", ["0", "1"]),  # positions, which physical_gpu_address maps back through the list
        (4, "GPU-aaaa, GPU-bbbb", ["0", "1"]),
        (4, "", []),
        (4, "0,-1,2", ["0"]),  # CUDA stops at the first entry that names no device
        (1, "0,1,2", ["0"]),  # index 1 is not there
        (2, "1", ["0"]),
        (1, "GPU-aaaa,GPU-bbbb", ["0"]),  # never more than there are GPUs
        (None, "0", []),
    ],
)
def test_discovery_script(tmp_path, gpus, cvd, expected):
    assert discover(tmp_path, gpus, cvd) == expected


def test_discovered_addresses_bind_and_meter_the_executors_devices(tmp_path):
    executor_cvd = "6,7"
    for address, physical in zip(discover(tmp_path, 8, executor_cvd), ["6", "7"]):
        environ = {CUDA_VISIBLE_DEVICES: executor_cvd}
        visible = bind_task_gpus((address,), environ)
        assert visible == physical
        assert [physical_gpu_address(a, environ[CUDA_VISIBLE_DEVICES]) for a in bound_addresses(visible)] == [physical]
