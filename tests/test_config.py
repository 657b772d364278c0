import pytest
from pydantic import ValidationError

from notewatt.cli import DEFAULT_PROFILE, job_arguments, parse_job_config
from notewatt.config import PROJECT_ROOT, deep_merge, load_config, parse_override


def test_defaults_plus_local_profile_load():
    config = load_config([DEFAULT_PROFILE])
    assert config.variant == "qwen-coder-1500m" and config.selected_variant.dtype == "native"
    ladder = ["qwen-coder-1500m", "qwen-coder-500m", "smollm2-135m"]
    assert config.tuning.variants == ladder and all(config.variant_config(v).dtype == "native" for v in ladder)
    assert config.engine.engine_args["distributed_executor_backend"] == "uni"
    assert config.engine.env["OMP_NUM_THREADS"] == "1"


def test_engine_arguments_merge_profile_under_variant():
    from notewatt.inference import partition_settings

    config = load_config([DEFAULT_PROFILE], ["variant=smollm2-135m-bf16", "engine.engine_args.max_model_len=1024"])
    engine = partition_settings(config, "r").engine
    assert engine.dtype == "bfloat16" and engine.engine_args["distributed_executor_backend"] == "uni"
    assert engine.engine_args["max_model_len"] == 2048  # the variant's own value wins


def test_a_variant_says_whether_its_guided_json_is_compact():
    from notewatt.inference import partition_settings

    config = load_config([DEFAULT_PROFILE])
    compact = {v: partition_settings(config, "r", v).engine.compact_json for v in config.tuning.variants}
    assert compact == {"qwen-coder-1500m": True, "qwen-coder-500m": False, "smollm2-135m": True}


def test_the_engine_switches_mean_what_they_say_on_every_profile():
    """The GPU variants' own engine_args used to win over engine.enable_prefix_caching: switching it off did
    nothing there."""
    for profile in ("local_cpu.yaml", "gpu_cluster.yaml", "gpu_single_node.yaml"):
        config = load_config([PROJECT_ROOT / "conf" / profile],
                             ["engine.enable_prefix_caching=false", "engine.max_num_seqs=8"])
        for variant in config.variants:
            args = config.engine_args_for(variant)
            assert (args["enable_prefix_caching"], args["max_num_seqs"]) == (False, 8), (profile, variant)


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


def test_the_configuration_reference_is_generated_from_the_classes():
    import importlib.util

    spec = importlib.util.spec_from_file_location("config_reference", PROJECT_ROOT / "scripts" / "config_reference.py")
    generator = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generator)
    assert (PROJECT_ROOT / "docs" / "configuration.md").read_text() == generator.reference(), \
        "run: python scripts/config_reference.py"


def test_profiles_hold_no_copy_of_a_default():
    """A profile sets what differs from the defaults in notewatt/config.py, never the same value again."""
    from notewatt.config import JobConfig, read_profile

    defaults = JobConfig(variant="v", variants={}).model_dump()
    for name in ("local_cpu.yaml", "gpu_cluster.yaml", "gpu_single_node.yaml", "gpu_variants.yaml"):
        profile = read_profile(PROJECT_ROOT / "conf" / name)
        for section, values in profile.items():
            if isinstance(values, dict) and isinstance(defaults.get(section), dict):
                same = {k for k, v in values.items() if defaults[section].get(k) == v and k in defaults[section]}
                assert not same, f"{name}: {section}.{sorted(same)} repeat the default"


@pytest.mark.parametrize("argv, message", [
    (["engine.max_tokns=5"], "notewatt: error: unknown setting engine.max_tokns (did you mean engine.max_tokens?)"),
    (["--variant", "nope"], "notewatt: error: unknown variant 'nope'"),
    (["--config", "conf/nope.yaml"], "notewatt: error: config file 'conf/nope.yaml' does not exist"),
])
def test_a_users_mistake_is_one_line_and_exit_status_2(argv, message, capsys):
    from jobs.abstract_notes import main
    from notewatt.cli import run_job

    with pytest.raises(SystemExit) as exit_:
        run_job(lambda: main(argv))
    err = capsys.readouterr().err.strip().splitlines()
    assert exit_.value.code == 2 and len(err) == 1 and err[0].startswith(message)


def test_a_corpus_path_that_does_not_exist_is_named(spark, capsys):
    from jobs.abstract_notes import main
    from notewatt.cli import run_job

    with pytest.raises(SystemExit) as exit_:
        run_job(lambda: main(["--notes", "/no/such/notes.jsonl"]))
    assert exit_.value.code == 2
    assert capsys.readouterr().err.strip() == (
        "notewatt: error: corpus path '/no/such/notes.jsonl' does not exist (corpus.path, or --notes)")


def test_a_corpus_whose_every_record_is_quarantined_stops_before_inference(spark, tmp_path, capsys):
    import json

    from jobs.abstract_notes import main
    from notewatt.cli import run_job

    notes = tmp_path / "notes.jsonl"
    notes.write_text("\n".join([json.dumps({"note_id": "n1", "text": " "}), json.dumps({"note_id": "n2", "text": ""}),
                                "{not json"]) + "\n")
    output = tmp_path / "delta"
    with pytest.raises(SystemExit) as exit_:
        run_job(lambda: main(["--notes", str(notes), "--output", str(output), "--run-id", "all-bad",
                              "--variant", "smollm2-135m-fp32"]))
    [line] = capsys.readouterr().err.strip().splitlines()
    assert exit_.value.code == 2 and line.startswith("notewatt: error: no note to abstract: all 3 records were quarantined (")
    assert f"{output}/quarantine" in line
    quarantined = spark.read.format("delta").load(str(output / "quarantine")).where("run_id = 'all-bad'")
    assert quarantined.count() == 3  # their reasons are kept for the user to read
