"""Test doubles for the code around the engine and the energy devices (never used by the job)."""

from __future__ import annotations

import json

from udfs.engine import Generation

VALID_OUTPUT = json.dumps(
    {"problems": ["hypertension"], "medications": [{"name": "lisinopril", "dose": "10 mg daily"}],
     "procedures": [], "allergies": [], "smoking_status": "never"}
)


class FakeEngine:
    """Answers every prompt with `output`; counts one token per whitespace-separated word."""

    max_model_len = 2048

    def __init__(self, output: str = VALID_OUTPUT, finish_reason: str = "stop", fail: bool = False, outputs=None):
        self.output, self.finish_reason, self.fail = output, finish_reason, fail
        self.outputs = outputs  # a function prompt -> output, where the answer depends on the prompt
        self.calls: list[list[str]] = []

    def render(self, messages):
        return "\n".join(f"<{m['role']}>{m['content']}" for m in messages)

    def count_tokens(self, prompt: str) -> int:
        return len(prompt.split())

    def generate(self, prompts, max_tokens, temperature, schema):
        self.calls.append(list(prompts))
        if self.fail:
            raise RuntimeError("engine exploded")
        return [
            Generation(self.outputs(p) if self.outputs else self.output, self.count_tokens(p), 7, self.finish_reason, 3)
            for p in prompts
        ]

    def close(self):
        self.closed = True


class TraceMeter:
    """A meter that replays a synthetic trace: power(t) in watts and/or a cumulative counter."""

    device, device_name = "fake-gpu", "Fake GPU"
    counter_source, power_source = "nvml_counter", "nvml_power"
    scope, shared_counter = "device", True

    def __init__(self, clock, power=None, energy=None):
        self.clock, self.power, self.energy = clock, power, energy

    def energy_j(self):
        return None if self.energy is None else self.energy(self.clock())

    def power_w(self):
        return None if self.power is None else self.power(self.clock())
