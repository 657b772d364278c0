"""The run's HTML report, the energy report notebook's frames and charts, and the notebook run on a real job."""

import base64
import importlib.util
import re
from datetime import datetime, timezone
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest

from notewatt.comparison import pareto_front
from notewatt.gate.checks import Check
from notewatt.reporting.charts import (
    figure_png, pareto_chart, partition_distribution_chart, run_energy_chart, trend_chart,
)
from notewatt.reporting.html_report import run_report_html
from notewatt.reporting.summary import summary_text
from notewatt.reporting.notebook_frames import F1, JSON_VALID, partition_figures, runs_with_quality
from notewatt.tracking.run_log import TrackedRun

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "energy_report.ipynb"
ORANGE, BLUE = (255, 127, 14), (31, 119, 180)  # matplotlib's tab:orange and tab:blue: bars and points


def colours(png: bytes) -> set[tuple[int, int, int]]:
    """The RGB colours a PNG is drawn with (decoded by matplotlib, so a broken file fails here)."""
    import io

    from matplotlib.image import imread

    pixels = (imread(io.BytesIO(png), format="png")[..., :3] * 255).round().astype(int)
    assert pixels.shape[0] >= 200 and pixels.shape[1] >= 600  # a chart, not an empty or tiny image
    return {tuple(int(c) for c in rgb) for rgb in pixels.reshape(-1, 3)}
ROLLUP = {
    "run_id": "r-1", "variant": "smollm2-135m-fp32", "model": "models/smollm2-135m-instruct", "dtype": "float32",
    "started_at": datetime(2026, 11, 26, 5, 25, tzinfo=timezone.utc), "notes": 36, "notes_ok": 30,
    "prompt_tokens": 21000, "output_tokens": 9890, "energy_wh": 0.8899, "energy_above_idle_wh": None,
    "wh_per_1000_notes": 24.719, "output_tokens_per_joule": 3.087, "total_tokens_per_joule": 8.878,
    "tokens_per_wh_p5": 10400.0, "tokens_per_wh_p50": 11100.0, "tokens_per_wh_p95": 11800.0, "duration_s": 234.2,
    "notes_per_s": 0.154, "wh_per_1000_notes_all_in": 33.89, "energy_status_reason": None,
    "energy_status": "estimated", "energy_sources": "estimate", "engine_load_wh": 0.3302, "inference_s": 200.1,
    "partitions": 2, "partial_partitions": 0, "shared_device_partitions": 0, "facility_wh_per_1000_notes": 30.9,
    "gco2e_per_1000_notes": 11.2, "cost_per_1000_notes": None, "pue": 1.25, "carbon_intensity_g_per_kwh": 363.0,
    "carbon_intensity_source": "codecarbon:DEU 2023", "price_per_kwh": None, "currency": "USD",
    "measured_share": 0.0, "gpu_energy_wh": 0.0, "host_energy_wh": 0.8899, "retry_energy_j": 0.0, "retry_windows": 0,
    "wh_per_1000_notes_incl_retries": 24.719, "preprocess_s": None, "preprocess_energy_j": None,
    "engine_load_status": "estimated", "retry_unfinished_windows": 0, "retry_energy_status": None,
}
MEASURED = ROLLUP | {"energy_status": "measured", "energy_sources": "nvml_counter,rapl", "energy_above_idle_wh": 0.61,
                     "measured_share": 1.0, "gpu_energy_wh": 0.7, "host_energy_wh": 0.1899,
                     "engine_load_status": "measured"}
PARTITIONS = pd.DataFrame({"partition_id": [1, 0], "energy_j": [1500.0, 1703.6], "output_tokens": [4400, 5490]})


def images(html: str) -> list[bytes]:
    """The decoded PNGs of the report's data-URI images."""
    return [base64.b64decode(data) for data in re.findall(r'src="data:image/png;base64,([^"]+)"', html)]


def test_an_estimated_run_is_labelled_estimated_and_never_measured():
    html = run_report_html(ROLLUP, PARTITIONS)
    assert 'class="banner estimated"' in html and "ESTIMATED ENERGY: not a measurement" in html
    assert "Measured energy" not in html and "MEASURED" not in html
    assert html.count('<span class="tag estimated">ESTIMATED</span>') >= 6  # every energy figure tagged
    assert "children x energy.cpu_watts_per_core" in html  # what the estimate is
    assert "0.000 (all estimated)" in html  # the measured share
    assert "n/a" in html  # no above-idle figure without an idle reading


def test_a_measured_run_is_shown_as_measured():
    html = run_report_html(MEASURED, PARTITIONS)
    assert 'class="banner measured"' in html and "Measured energy" in html
    assert '<span class="tag measured">MEASURED</span>' in html and "ESTIMATED" not in html
    assert "nvml_counter" in html and "0.6100 Wh" in html and "1.000 (all measured)" in html
    assert "GPU 0.7000 Wh, host 0.1899 Wh" in html


def test_a_partly_estimated_run_says_so():
    html = run_report_html(MEASURED | {"energy_status": "partly_estimated", "energy_sources": "estimate,rapl"},
                           PARTITIONS)
    assert "PARTLY ESTIMATED ENERGY: not a measurement" in html and "Measured energy" not in html
    assert "<code>estimate</code>" in html and "<code>rapl</code>" in html


def test_an_incomplete_run_its_engine_loads_and_its_retries_each_carry_their_own_status():
    rollup = MEASURED | {"energy_status": "incomplete", "energy_sources": "nvml_counter,rapl,unmetered",
                         "engine_load_status": "estimated", "retry_energy_j": 360.0, "retry_windows": 2,
                         "retry_unfinished_windows": 1, "retry_energy_status": "measured",
                         "energy_status_reason": "GPU-1 cannot be read through NVML"}
    html = run_report_html(rollup, PARTITIONS)
    assert "not all there: GPU-1 cannot be read through NVML" in html
    assert 'class="banner estimated"' in html and "INCOMPLETE ENERGY: not a measurement" in html
    assert "<code>unmetered</code>" in html and "NOT MEASURED" in html  # what the source means
    assert re.search(r"Engine loads</td>.*?<span class=\"tag estimated\">ESTIMATED</span>", html)
    assert "0.1000 Wh in 2 discarded window(s), MEASURED; 1 killed before closing" in html
    summary = {"notes_in": 36, "notes_quarantined": 0, "quality_mode": "none", "f1_overall": None,
               "json_valid_rate": None, "notes_reused": 0, "cache_hit_rate": 0.0, "energy_avoided_wh": None,
               "prefix_cache_hit_rate": None, "engine_load_s": 8.0}
    text = summary_text(rollup | summary, {}, TrackedRun("exp", "m", "file:/tmp"), {})
    assert "INCOMPLETE" in text and "engine loads 0.3302 Wh ESTIMATED" in text and "a lower bound" in text
    assert "(models/smollm2-135m-instruct, float32)" in text.splitlines()[0]  # the dtype the engines used
    assert "not all there          GPU-1 cannot be read through NVML" in text
    unknown = summary_text(rollup | summary | {"wh_per_1000_notes_all_in": None}, {}, TrackedRun("exp", "m", "file:/tmp"),
                           {})
    assert "Wh / 1,000 all in      n/a" in unknown and "n/a: one of them is unknown" in unknown


def test_the_all_in_figure_stands_beside_the_headline():
    html = run_report_html(ROLLUP, PARTITIONS)
    assert re.search(r"Wh per 1,000 notes, all in</td>\s*<td[^>]*>33.890", html)
    assert "the engine loads, the Spark NLP stage and discarded attempts" in html


def test_derived_figures_carry_their_factors_and_label():
    html = run_report_html(ROLLUP, PARTITIONS)
    assert '<span class="tag derived">derived</span>' in html
    assert "dtype float32" in html
    assert "PUE 1.25" in html and "363 gCO2e/kWh (codecarbon:DEU 2023)" in html
    assert "30.900" in html and "not configured" in html  # facility figure; no electricity price set


def test_checks_are_rendered_pass_and_fail_with_a_verdict():
    checks = [Check("wh_per_1000_notes", True, 24.7, 50.0, "<= 50 required"),
              SimpleNamespace(name="f1_overall", passed=False, observed=None, limit=0.05, detail="not reported")]
    html = run_report_html(ROLLUP, PARTITIONS, checks)
    assert re.search(r"wh_per_1000_notes</td><td><span class=\"pass\">PASS", html)
    assert re.search(r"f1_overall</td><td><span class=\"fail\">FAIL", html)
    assert "&lt;= 50 required" in html and "targets: <span class=\"fail\">FAILED</span>" in html
    passed = run_report_html(ROLLUP, PARTITIONS, checks[:1])
    assert "targets: <span class=\"pass\">PASSED</span>" in passed


@pytest.mark.parametrize("checks", [None, []])
def test_no_checks_says_so(checks):
    assert "no targets checked" in run_report_html(ROLLUP, PARTITIONS, checks)


def test_the_report_is_self_contained_with_embedded_images():
    html = run_report_html(ROLLUP, PARTITIONS)
    assert not re.search(r"(?:src|href)\s*=\s*[\"']?\s*https?:", html, re.IGNORECASE)
    assert "<script" not in html and "<link" not in html
    assert "http" not in re.sub(r"data:image/png;base64,[^\"]+", "", html)
    [png] = images(html)
    assert {ORANGE, BLUE} <= colours(png)  # energy bars (orange) and output-token bars (blue) were drawn
    assert len(re.findall(r"<img ", html)) == 1


def test_data_is_escaped():
    html = run_report_html(ROLLUP | {"run_id": "<b>x</b>"}, PARTITIONS)
    assert "<b>x</b>" not in html and "&lt;b&gt;x&lt;/b&gt;" in html


# --- the notebook's frames and charts ---------------------------------------------------------------------

def rollups(statuses=("estimated", "measured")) -> pd.DataFrame:
    n = len(statuses)
    return pd.DataFrame({
        "run_id": [f"r{i}" for i in range(n)], "variant": [f"v{i}" for i in range(n)],
        "started_at": pd.date_range("2026-11-01", periods=n, freq="D"), "notes": [10] * n,
        "notes_ok": [9, 5, 8][:n], "energy_wh": [0.5, 0.2, 0.3][:n], "wh_per_1000_notes": [50.0, 20.0, 30.0][:n],
        "output_tokens_per_joule": [2.0, 4.0, 3.0][:n], "tokens_per_wh_p50": [7000.0] * n,
        "tokens_per_wh_p95": [8000.0] * n, "energy_status": list(statuses), "energy_sources": ["estimate"] * n,
        "measured_share": [{"measured": 1.0, "estimated": 0.0}.get(s, 0.5) for s in statuses],
    })


def mlflow_runs(rows) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["run_id", "start_time", "tags.notewatt.run_id", "metrics.f1_overall"])


def test_quality_is_f1_when_logged_from_the_latest_mlflow_run_of_each_run_id():
    logged = mlflow_runs([("m-old", 1, "r0", 0.1), ("m-new", 2, "r0", 0.3), ("m-parent", 3, None, None),
                          ("m1", 1, "r1", 0.2)])
    runs, label = runs_with_quality(rollups(), logged)
    assert label == F1 and list(runs["quality"]) == [0.3, 0.2] and list(runs["mlflow_run_id"]) == ["m-new", "m1"]
    assert list(runs["label"]) == ["r0 · v0 [ESTIMATED]", "r1 · v1"]


def test_quality_falls_back_to_json_validity():
    for logged in (mlflow_runs([("m0", 1, "r0", None)]).drop(columns="metrics.f1_overall"),
                   mlflow_runs([("m0", 1, "r0", None)]), pd.DataFrame(columns=["run_id", "start_time"])):
        runs, label = runs_with_quality(rollups(), logged)
        assert label == JSON_VALID and list(runs["quality"]) == [0.9, 0.5]


def test_pareto_front_keeps_runs_nothing_beats_on_energy_and_quality():
    runs = pd.DataFrame({"wh_per_1000_notes": [50.0, 20.0, 30.0, 20.0, 10.0],
                         "quality": [0.9, 0.5, 0.4, 0.5, None]})
    assert list(pareto_front(runs)) == [True, True, False, True, False]  # 30 Wh at 0.4 loses to 20 Wh at 0.5


def test_partition_figures():
    partitions = pd.DataFrame({"run_id": ["r0", "r0"], "partition_id": [0, 1], "notes": [4, 2],
                               "output_tokens": [360, 100], "energy_j": [360.0, 72.0],
                               "energy_source": ["estimate"] * 2})
    runs, _ = runs_with_quality(rollups(("estimated",)), pd.DataFrame())
    parts = partition_figures(partitions, runs)
    assert list(parts["wh_per_1000_notes"]) == pytest.approx([25.0, 10.0])
    assert list(parts["tokens_per_wh"]) == pytest.approx([3600.0, 5000.0])


@pytest.mark.parametrize("statuses", [("estimated",), ("estimated", "measured", "partly_estimated")])
def test_the_notebook_charts_render_for_one_run_or_several(statuses):
    runs, label = runs_with_quality(rollups(statuses), pd.DataFrame())
    runs["on_front"] = pareto_front(runs)
    parts = pd.DataFrame({"label": list(runs["label"]) * 2, "wh_per_1000_notes": range(2 * len(runs)),
                          "tokens_per_wh": range(2 * len(runs))})
    figures = [run_energy_chart(runs), partition_distribution_chart(parts, list(runs["label"])),
               pareto_chart(runs, label), trend_chart(runs)]
    drawn = [colours(figure_png(f)) for f in figures]
    assert ORANGE in drawn[0]  # the run bars
    assert all(len(c) > 50 for c in drawn)  # drawn charts, not blank canvases


def test_the_jupyter_notebook_is_in_sync_with_its_databricks_source():
    spec = importlib.util.spec_from_file_location("sync_notebooks", ROOT / "scripts" / "sync_notebooks.py")
    sync = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(sync)
    assert NOTEBOOK.read_text() == sync.to_ipynb(NOTEBOOK.with_suffix(".py").read_text()), \
        "run: python scripts/sync_notebooks.py"


# --- the notebook on a real job's tables ------------------------------------------------------------------

@pytest.mark.integration
def test_the_notebook_runs_top_to_bottom_on_a_job_run(job_run, monkeypatch):
    import nbformat
    from nbclient import NotebookClient

    rollup, output, uri = job_run
    monkeypatch.setenv("NOTEWATT_TABLES", output.path)
    monkeypatch.setenv("NOTEWATT_TRACKING_URI", uri)
    monkeypatch.setenv("NOTEWATT_EXPERIMENT", "notewatt")  # the job's default experiment
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(notebook, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(NOTEBOOK.parent)}}).execute()  # raises on a failing cell

    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]
    text = "".join(o.get("text", "") + str(o.get("data", {}).get("text/plain", "")) for o in outputs)
    assert sum("image/png" in o.get("data", {}) for o in outputs) == 4
    assert "1 run(s), 2 partition(s)" in text and "One run so far" in text
    assert f"{rollup['run_id']} · {rollup['variant']} [ESTIMATED]" in text
