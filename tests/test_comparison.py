from notewatt.reporting.charts import pareto_chart
from notewatt.comparison import comparison_table, pareto_front, quality_column, table_rows


def rollup(variant, wh, f1, status="estimated"):
    return dict(variant=variant, run_id=f"r-{variant}", wh_per_1000_notes=wh, output_tokens_per_joule=1.0,
                notes_per_s=0.1, f1_overall=f1, json_valid_rate=0.5, energy_status=status, notes=36)


def test_frontier_keeps_variants_nothing_beats_on_both_energy_and_f1():
    table = comparison_table([rollup("a", 20, 0.5), rollup("b", 10, 0.4), rollup("c", 30, 0.45), rollup("d", 10, 0.4)])
    assert table["variant"].tolist() == ["b", "d", "a", "c"]  # by energy
    assert dict(zip(table["variant"], table["on_front"])) == {"a": True, "b": True, "c": False, "d": True}


def test_quality_falls_back_to_valid_json_when_a_run_was_not_scored():
    table = comparison_table([rollup("a", 20, None), rollup("b", 10, 0.4)])
    assert quality_column(table) == "json_valid_rate"
    rows = table_rows(table, "cmp")
    assert rows[1][7] is None  # f1 of the unscored run is null, not NaN


def test_table_rows_fit_the_delta_schema(spark):
    from notewatt.tables import VARIANT_COMPARISONS

    table = comparison_table([rollup("a", 20, None), rollup("b", 10, 0.4) | {"notes": 36.0, "dtype": "bfloat16",
                                                                             "wh_per_1000_correct_items": 2.5}])
    rows = spark.createDataFrame(table_rows(table, "cmp"), VARIANT_COMPARISONS.schema).collect()  # MLflow: floats
    [a, b] = sorted(rows, key=lambda r: r.variant)
    assert (a.notes, b.notes, a.f1_overall, b.on_front, b.dtype) == (36, 36, None, True, "bfloat16")
    assert (a.wh_per_1000_correct_items, b.wh_per_1000_correct_items) == (None, 2.5)  # energy per correct answer


def test_pareto_frontier_on_ties():
    import pandas as pd

    frame = pd.DataFrame({"wh_per_1000_notes": [1, 1, 2], "quality": [2, 2, None]})
    assert pareto_front(frame).tolist() == [True, True, False]


def test_pareto_chart_draws(tmp_path):
    table = comparison_table([rollup("a", 20, 0.5) | {"wh_per_1000_correct_items": 3.1}, rollup("b", 10, 0.4)])
    pareto_chart(table, "f1_overall").savefig(tmp_path / "p.png")
    assert (tmp_path / "p.png").stat().st_size > 1000


def test_the_comparisons_variants_are_not_taken_for_the_jobs_variant():
    """argparse used to read a job option `--variant x` as an abbreviation of the comparison's own `--variants`,
    so every run of the comparison ran x."""
    from jobs.compare_variants import comparison_arguments

    own, _ = comparison_arguments()
    args, rest = own.parse_known_args(["--variants", "a,b", "--variant", "x"])
    assert args.variants == "a,b" and rest == ["--variant", "x"]
