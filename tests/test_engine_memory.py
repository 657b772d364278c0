"""An engine's dtype on this host and the memory it will hold, and how a local run is sized by them: no more engines
at once than the host's memory holds, and a one-line error before any model loads when not one fits."""

import json
from types import SimpleNamespace

import pytest

from notewatt import engine_sizing
from notewatt.cli import DEFAULT_PROFILE
from notewatt.config import load_config
from notewatt.engine_sizing import EngineSizing, engines_that_fit, size_engines, worker_footprints
from notewatt.inference import partition_settings
from udfs import engine_memory
from udfs.engine import use_intra_op_threads
from udfs.engine_memory import (
    GIB, EngineFootprint, EngineMemoryError, cpu_flags, engine_footprint, native_cpu_dtype, require_memory,
    resolved_dtype,
)


def test_native_is_bfloat16_only_where_the_cpu_computes_it(tmp_path):
    avx2 = frozenset({"sse4_2", "avx2", "fma"})
    assert native_cpu_dtype(avx2) == "float32"
    assert native_cpu_dtype(avx2 | {"avx512f", "avx512_bf16"}) == "bfloat16"
    assert native_cpu_dtype(avx2 | {"amx_tile", "amx_bf16"}) == "bfloat16"
    assert native_cpu_dtype(avx2 | {"avx512f", "avx512_vnni"}) == "float32"  # int8 dot products are not bf16
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nflags\t\t: fpu avx2 amx_bf16\n\nprocessor\t: 1\nflags\t\t: fpu avx2 amx_bf16\n")
    assert cpu_flags(str(cpuinfo)) == {"fpu", "avx2", "amx_bf16"}
    assert cpu_flags(str(tmp_path / "absent")) == frozenset()
    assert resolved_dtype("float32") == "float32" and resolved_dtype("native", on_cpu=False) == "auto"


def model_folder(tmp_path, stored="bfloat16", size=1000 * 2**20):
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"dtype": stored, "vocab_size": 150_000}))
    with open(folder / "model.safetensors", "wb") as weights:
        weights.truncate(size)  # sparse: only its size is read
    return str(folder)


def test_a_footprint_is_runtime_and_vocabulary_plus_weights_in_the_engine_dtype_plus_the_kv_cache(tmp_path):
    model = model_folder(tmp_path)
    env = {"VLLM_CPU_KVCACHE_SPACE": "2"}
    bf16 = engine_footprint(model, "bfloat16", None, {}, env)
    fp32 = engine_footprint(model, "float32", None, {}, env)
    assert (bf16.weights_bytes, fp32.weights_bytes) == (1000 * 2**20, 2000 * 2**20)  # the checkpoint is bf16
    assert (bf16.kv_cache_bytes, bf16.vocabulary) == (2 * GIB, 150_000)
    assert bf16.expected_bytes == int(1.75 * GIB) + int(0.9 * GIB) + int(1.4 * 1000 * 2**20) + 2 * GIB
    assert engine_footprint(model, "float32", "compressed-tensors", {}, env).weights_bytes == 1000 * 2**20
    assert engine_footprint(model, "bfloat16", None, {"kv_cache_memory_bytes": 5}, {}).kv_cache_bytes == 5
    assert engine_footprint(model, "bfloat16", None, {}, {}) is None  # the KV cache left to vLLM
    assert engine_footprint(str(tmp_path / "nowhere"), "bfloat16", None, {}, env) is None  # a hub name
    assert engine_footprint(model, "auto", None, {}, env) is None


def test_an_engine_that_does_not_fit_fails_before_loading_naming_model_size_and_memory(monkeypatch):
    big = EngineFootprint("models/qwen", "float32", 6 * GIB, 2 * GIB, 0)
    monkeypatch.setattr(engine_memory, "available_bytes", lambda: 9 * GIB)
    with pytest.raises(EngineMemoryError) as error:
        require_memory(big)
    assert str(error.value) == (f"model models/qwen in float32 needs ~{big.expected_bytes / GIB:.1f} GiB, and 9.0 GiB "
                                "of memory is available on this host")
    require_memory(EngineFootprint("models/qwen", "bfloat16", 3 * GIB, 2 * GIB, 0))
    require_memory(None)  # cannot be sized: not checked


def test_engines_that_fit_count_every_engine_a_worker_keeps():
    small, large = EngineFootprint("s", "bfloat16", GIB, GIB, 0), EngineFootprint("l", "bfloat16", 4 * GIB, GIB, 0)
    assert engines_that_fit([large], 20 * GIB) == 2
    assert engines_that_fit([small, large], 20 * GIB) == 1
    with pytest.raises(EngineMemoryError, match=r"model s in bfloat16 needs ~4.\d GiB; model l in bfloat16 needs "
                                                r"~8.\d GiB, and 10.0 GiB of memory is available on this host"):
        engines_that_fit([small, large], 10 * GIB)


def local_spark(master="local[2]"):
    return SimpleNamespace(sparkContext=SimpleNamespace(master=master))


@pytest.mark.parametrize("available_gib, partitions, expected", [
    (40, 2, EngineSizing(2, 1)),  # both slots' engines fit, a core each
    (13, 2, EngineSizing(1, 2)),  # one fits: one partition, one engine on both cores
    (13, 1, EngineSizing(1, 2)),
    (13, 8, EngineSizing(1, 2)),  # eight windows on two slots would hold two engines
    (30, 8, EngineSizing(8, 1)),  # two engines fit: eight partitions, two at a time
])
def test_a_local_run_starts_no_more_engines_than_fit_and_gives_idle_cores_to_them(monkeypatch, available_gib,
                                                                                   partitions, expected):
    config = load_config([DEFAULT_PROFILE], ["variant=qwen-coder-1500m", "variants.qwen-coder-1500m.dtype=float32"])
    settings = {"qwen-coder-1500m": partition_settings(config, "r")}
    monkeypatch.setattr(engine_sizing, "worker_footprints",
                        lambda _: [EngineFootprint("q", "float32", 6 * GIB, 2 * GIB, 0)])  # ~12.2 GiB
    monkeypatch.setattr(engine_sizing, "available_bytes", lambda: available_gib * GIB)
    monkeypatch.setattr(engine_sizing, "release_other_engines", lambda *_: [])  # no engine of the run loaded yet
    assert size_engines(local_spark(), config, settings, partitions, slots=2) == expected
    assert size_engines(local_spark("spark://h:7077"), config, settings, partitions, 2) == EngineSizing(partitions)
    off = config.model_copy(update={"engine": config.engine.model_copy(update={"fit_host_memory": False})})
    assert size_engines(local_spark(), off, settings, partitions, 2) == EngineSizing(partitions)


def test_engines_a_worker_holds_already_for_the_run_need_no_more_memory(monkeypatch):
    """A second run of the same engines in one application (a tuner's trial, a notebook's rerun) found the memory
    its own loaded engines held missing, and stopped with EngineMemoryError although nothing more would load."""
    config = load_config([DEFAULT_PROFILE], ["variant=qwen-coder-1500m", "variants.qwen-coder-1500m.dtype=float32"])
    settings = {"qwen-coder-1500m": partition_settings(config, "r")}
    engine = settings["qwen-coder-1500m"].engine
    monkeypatch.setattr(type(engine), "footprint", lambda self, dtype: EngineFootprint("q", dtype, 6 * GIB, 2 * GIB, 0))
    monkeypatch.setattr(engine_sizing, "available_bytes", lambda: 5 * GIB)  # what the loaded engine left
    monkeypatch.setattr(engine_sizing, "release_other_engines", lambda *_: [engine.key])
    assert size_engines(local_spark(), config, settings, 2, slots=2).partitions == 1
    monkeypatch.setattr(engine_sizing, "release_other_engines", lambda *_: [])
    with pytest.raises(EngineMemoryError):
        size_engines(local_spark(), config, settings, 2, slots=2)


def test_the_ladders_engines_are_sized_from_their_checkpoints():
    config = load_config([DEFAULT_PROFILE])
    for variant in config.tuning.variants:
        [footprint] = worker_footprints({variant: partition_settings(config, "r", variant)})
        assert footprint.dtype == native_cpu_dtype() and footprint.kv_cache_bytes == 2 * GIB
        assert footprint.weights_bytes > 0 and footprint.vocabulary in (49_152, 151_936)


def test_an_engine_takes_its_threads_also_after_vllm_replaced_torchs_setter(monkeypatch):
    import torch

    before = torch.get_num_threads()
    monkeypatch.setattr(torch, "set_num_threads", lambda n: None)  # what vLLM's CPU worker does once built
    try:
        use_intra_op_threads(2)
        assert torch.get_num_threads() == 2
        use_intra_op_threads(None)  # left as the environment set them
        assert torch.get_num_threads() == 2
    finally:
        torch._C.set_num_threads(before)
