import pytest
from pydantic import ValidationError

from notewatt.cli import DEFAULT_PROFILE, job_arguments, parse_job_config
from notewatt.config import PROJECT_ROOT, deep_merge, load_config, parse_override


def test_defaults_plus_local_profile_load():
    config = load_config([DEFAULT_PROFILE])
    assert config.variant == "smollm2-135m-fp32"
    assert config.engine.engine_args["distributed_executor_backend"] == "uni"
    assert config.engine.env["OMP_NUM_THREADS"] == "1"


def test_engine_arguments_merge_profile_under_variant():
    from notewatt.inference import partition_settings

    config = load_config([DEFAULT_PROFILE], ["variant=smollm2-135m-bf16", "engine.engine_args.max_model_len=1024"])
    engine = partition_settings(config, "r").engine
    assert engine.dtype == "bfloat16" and engine.engine_args["distributed_executor_backend"] == "uni"
    assert engine.engine_args["max_model_len"] == 2048  # the variant's own value wins


def test_overrides_are_typed_yaml_values():
    assert parse_override("engine.max_tokens=128") == {"engine": {"max_tokens": 128}}
    assert parse_override("spark.partitions=null") == {"spark": {"partitions": None}}
    with pytest.raises(ValueError):
        parse_override("no-equals-sign")


def test_deep_merge_keeps_sibling_keys():
    assert deep_merge({"a": {"b": 1, "c": 2}}, {"a": {"c": 3}}) == {"a": {"b": 1, "c": 3}}


def test_named_options_and_overrides_on_the_command_line():
    config = parse_job_config(
        job_arguments("t"),
        ["--notes", "x.jsonl", "--output", "out", "--run-id", "2024", "engine.batch_size=8"],
    )
    assert (config.corpus.path, config.output.path, config.run_id, config.engine.batch_size) == ("x.jsonl", "out", "2024", 8)


def test_unknown_keys_and_variants_fail_loudly():
    with pytest.raises(ValidationError):
        load_config([], ["engine.max_tokenz=5"])
    with pytest.raises(ValueError, match="unknown variant"):
        load_config([], ["variant=nope"])


def test_gpu_profile_is_valid():
    config = load_config([PROJECT_ROOT / "conf" / "gpu_cluster.yaml"])
    assert config.spark.conf["spark.task.resource.gpu.amount"] == "1"


def test_options_and_overrides_mix_in_any_order():
    config = parse_job_config(job_arguments("x"), ["corpus.limit=8", "--output", "/tmp/o", "engine.max_tokens=3"])
    assert (config.corpus.limit, config.output.path, config.engine.max_tokens) == (8, "/tmp/o", 3)
