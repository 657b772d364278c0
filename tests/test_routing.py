"""Small <-> large routing rules."""

import pytest

from notewatt.config import RoutingConfig, load_config
from notewatt.routing import route_notes


@pytest.fixture
def notes(spark):
    return spark.createDataFrame(
        [("short", "x" * 100, "progress_note"), ("long", "x" * 5000, "discharge_summary"), ("none", "x" * 50, None)],
        "note_id string, text string, note_type string",
    )


def routes(frame):
    return {r.note_id: r.variant for r in frame.collect()}


def test_without_a_small_variant_every_note_goes_to_the_jobs_variant(notes):
    assert set(routes(route_notes(notes, RoutingConfig(), "large")).values()) == {"large"}


def test_length_rule_sends_short_notes_small(notes):
    routed = route_notes(notes, RoutingConfig(small_variant="small", max_small_chars=1000), "large")
    assert routes(routed) == {"short": "small", "long": "large", "none": "small"}


def test_note_type_rule_sends_listed_types_small_and_unknown_types_large(notes):
    rule = RoutingConfig(small_variant="small", rule="note_type", small_note_types=["progress_note"])
    assert routes(route_notes(notes, rule, "large")) == {"short": "small", "long": "large", "none": "large"}


def test_note_type_rule_needs_the_column(notes):
    rule = RoutingConfig(small_variant="small", rule="note_type", small_note_types=["progress_note"])
    with pytest.raises(ValueError, match="note_type column"):
        route_notes(notes.drop("note_type"), rule, "large")


def test_routing_to_an_unknown_variant_fails_when_the_config_loads():
    with pytest.raises(ValueError, match="unknown variant 'tiny'"):
        load_config(overrides=["routing.small_variant=tiny"])


def test_both_tiers_get_their_own_engine_arguments():
    config = load_config(overrides=["routing.small_variant=smollm2-135m-bf16", "engine.max_num_seqs=8",
                                    "engine.enable_prefix_caching=false"])
    assert config.variants_in_use == ["smollm2-135m-bf16", "qwen-coder-1500m"]
    for variant in config.variants_in_use:
        args = config.engine_args_for(variant)
        assert (args["max_num_seqs"], args["enable_prefix_caching"]) == (8, False)
