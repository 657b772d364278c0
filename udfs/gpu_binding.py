"""Point a Python worker's CUDA at exactly the GPUs Spark assigned to its task, before the engine is built.

The address rule (what scripts/gpu_discovery.sh prints and udfs/energy/meters.physical_gpu_address reads): a
Spark GPU address is a CUDA device ordinal as the executor process sees it, that is a position in the
executor's own CUDA_VISIBLE_DEVICES when that is set and an NVML index (PCI bus order) otherwise, or a
GPU UUID. Spark never sets CUDA_VISIBLE_DEVICES; YARN and Kubernetes do not tell Spark which devices a
container got, so with their GPU isolation the container sees only its own GPUs and the discovery
script lists those.

Binding sets CUDA_VISIBLE_DEVICES to the task's devices by physical id (NVML index or UUID) and
CUDA_DEVICE_ORDER=PCI_BUS_ID, so that CUDA numbers devices as NVML does. From then on the task's GPUs
are this process's CUDA devices 0..n-1: meter them as `bound_addresses(...)`, which resolve through
the new CUDA_VISIBLE_DEVICES to the same physical devices. CUDA reads the variable once, when it
initialises, and a reused worker keeps its engine, so a worker is bound once: asked later for other
GPUs it raises GpuBindingError instead of running on, or metering, the wrong device.
"""

from __future__ import annotations

import os
from collections.abc import MutableMapping

from udfs.energy.meters import physical_gpu_address

CUDA_VISIBLE_DEVICES = "CUDA_VISIBLE_DEVICES"
BOUND_GPUS = "NOTEWATT_BOUND_GPUS"  # the binding this process made (its CUDA_VISIBLE_DEVICES value)
EXECUTOR_VISIBLE = "NOTEWATT_EXECUTOR_CUDA_VISIBLE_DEVICES"  # the executor's own value, kept when binding


class GpuBindingError(RuntimeError):
    """The worker is already bound to other GPUs than its task was assigned."""


def bind_task_gpus(addresses: tuple[str, ...], environ: MutableMapping[str, str] = os.environ) -> str | None:
    """Set CUDA_VISIBLE_DEVICES to the task's GPUs and return it; None (environment untouched) for no GPUs.

    A worker already bound to the same devices gets its binding back unchanged; one bound to other
    devices raises GpuBindingError.
    """
    if not addresses:
        return None
    devices = [physical_gpu_address(address, _executor_visible_devices(environ)) for address in addresses]
    bound = environ.get(BOUND_GPUS)
    if bound is not None:
        if set(bound.split(",")) != set(devices):
            raise GpuBindingError(
                f"this Python worker (pid {os.getpid()}) is bound to GPU(s) {bound} and may hold an engine "
                f"there, but its task was assigned {','.join(devices)} (Spark addresses {list(addresses)}). "
                "Give each executor only one task's GPUs (spark.executor.resource.gpu.amount equal to "
                "spark.task.resource.gpu.amount, or 1 where tasks share a GPU) or set spark.python.worker.reuse=false."
            )
        return bound
    if CUDA_VISIBLE_DEVICES in environ:
        environ[EXECUTOR_VISIBLE] = environ[CUDA_VISIBLE_DEVICES]
    value = ",".join(devices)
    environ.update({CUDA_VISIBLE_DEVICES: value, "CUDA_DEVICE_ORDER": "PCI_BUS_ID", BOUND_GPUS: value})
    return value


def _executor_visible_devices(environ: MutableMapping[str, str]) -> str | None:
    """The executor's own CUDA_VISIBLE_DEVICES, as it was before this process bound itself (None: unset)."""
    if BOUND_GPUS in environ:
        return environ.get(EXECUTOR_VISIBLE)
    return environ.get(CUDA_VISIBLE_DEVICES)


def bound_addresses(cuda_visible_devices: str | None) -> tuple[str, ...]:
    """The task's GPUs as this process numbers them after binding ("0".."n-1"); () for a CPU task."""
    if not cuda_visible_devices:
        return ()
    return tuple(str(i) for i in range(len(cuda_visible_devices.split(","))))
