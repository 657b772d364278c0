"""Test doubles for the code around the engine and the energy devices (never used by the job)."""

from __future__ import annotations

import json

from udfs.engine import Generation

VALID_OUTPUT = json.dumps(
    {"problems": ["hypertension"], "medications": [{"name": "lisinopril", "dose": "10 mg daily"}],
     "procedures": [], "allergies": [], "smoking_status": "never"}
)


class FakeEngine:
    """Answers every prompt with `output`; one token per whitespace-separated word."""

    max_model_len = 2048
    dtype = "float32"

    def __init__(self, output: str = VALID_OUTPUT, finish_reason: str = "stop", fail: bool = False, outputs=None,
                 logprob: float | None = None):
        self.output, self.finish_reason, self.fail, self.logprob = output, finish_reason, fail, logprob
        self.outputs = outputs  # a function prompt -> output, where the answer depends on the prompt
        self.calls: list[list[str]] = []

    def render(self, messages):
        return "\n".join(f"<{m['role']}>{m['content']}" for m in messages)

    def count_tokens(self, prompt: str) -> int:
        return len(prompt.split())

    def tokenize(self, prompt: str) -> list[int]:
        return list(range(self.count_tokens(prompt)))

    def generate(self, prompts, max_tokens, temperature, schema, on_finished=None):
        self.calls.append([p.text for p in prompts])
        if self.fail:
            raise RuntimeError("engine exploded")
        for _ in prompts if on_finished else ():
            on_finished(1)
        return [
            Generation(self.outputs(p.text) if self.outputs else self.output, len(p.token_ids), 7, self.finish_reason, 3,
                       self.logprob)
            for p in prompts
        ]

    def reset_prefix_cache(self):
        self.prefix_cache_resets = getattr(self, "prefix_cache_resets", 0) + 1

    def close(self):
        self.closed = True


class TraceMeter:
    """A meter that replays a synthetic trace: power(t) in watts and/or a cumulative counter."""

    device, device_name, component = "fake-gpu", "Fake GPU", "gpu"
    counter_source, power_source = "nvml_counter", "nvml_power"
    scope, shared_counter = "device", True
    problem = None

    def __init__(self, clock, power=None, energy=None):
        self.clock, self.power, self.energy = clock, power, energy

    def energy_j(self):
        return None if self.energy is None else self.energy(self.clock())

    def power_w(self):
        return None if self.power is None else self.power(self.clock())


class FakeNvml:
    """Stands in for the pynvml module: `gpus` maps index -> (UUID, name, counter_mj, power_mw); `init_error`
    (an NVMLError subclass name) makes nvmlInit fail; `broken` GPU indices raise on every reading."""

    class NVMLError(Exception):
        pass

    class NVMLError_NotSupported(NVMLError):
        pass

    def __init__(self, gpus: dict[int, tuple[str, str, int, int]], init_error: str | None = None, broken=()):
        self.gpus, self.init_error, self.broken = gpus, init_error, set(broken)

    def nvmlInit(self):
        if self.init_error:
            raise type(self.init_error, (self.NVMLError,), {})("fake NVML failure")

    def nvmlDeviceGetCount(self):
        return len(self.gpus)

    def nvmlDeviceGetHandleByIndex(self, index):
        if index not in self.gpus:
            raise type("NVMLError_InvalidArgument", (self.NVMLError,), {})("Invalid Argument")
        return index

    def nvmlDeviceGetHandleByUUID(self, uuid):
        found = [i for i, gpu in self.gpus.items() if gpu[0] == uuid]
        if not found:
            raise type("NVMLError_NotFound", (self.NVMLError,), {})("Not Found")
        return found[0]

    def nvmlDeviceGetUUID(self, handle):
        return self.gpus[handle][0].encode()

    def nvmlDeviceGetName(self, handle):
        return self.gpus[handle][1]

    def _reading(self, handle, field):
        if handle in self.broken:
            raise type("NVMLError_GpuIsLost", (self.NVMLError,), {})("GPU is lost")
        return self.gpus[handle][field]

    def nvmlDeviceGetTotalEnergyConsumption(self, handle):
        return self._reading(handle, 2)

    def nvmlDeviceGetPowerUsage(self, handle):
        if self._reading(handle, 3) is None:  # a GPU with an energy counter but no power reading
            raise self.NVMLError_NotSupported("Not Supported")
        return self._reading(handle, 3)


def fake_rapl_tree(root, packages: dict[str, int], max_range_uj: int = 1_000_000, dram_uj: int | None = None):
    """A /sys/class/powercap tree: one zone per package (name -> energy_uj), optionally a dram subzone."""
    for index, (name, energy) in enumerate(packages.items()):
        zone = root / f"intel-rapl:{index}"
        zone.mkdir(parents=True)
        (zone / "name").write_text(f"{name}\n")
        (zone / "energy_uj").write_text(f"{energy}\n")
        (zone / "max_energy_range_uj").write_text(f"{max_range_uj}\n")
        if dram_uj is not None:
            dram = zone / f"intel-rapl:{index}:0"
            dram.mkdir()
            (dram / "name").write_text("dram\n")
            (dram / "energy_uj").write_text(f"{dram_uj}\n")
            (dram / "max_energy_range_uj").write_text(f"{max_range_uj}\n")
    return root
