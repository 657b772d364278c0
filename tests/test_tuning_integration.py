"""The energy tuner end to end on the real engine: a two-trial search on four notes (the configured settings first,
then Optuna's), each trial an MLflow run under the search's parent with the trials table, the chart and the best
profile; and an empty sample stopped before any trial."""

import json

import mlflow
import pandas as pd
import pytest

from notewatt.config import PROJECT_ROOT

pytestmark = pytest.mark.integration


def corpus(path, lines):
    path.write_text("\n".join(lines) + "\n")
    return path


def test_a_small_search_runs_its_trials_and_writes_the_best_settings(spark, tmp_path):
    from jobs.tune_energy import main
    from notewatt.tuning_search import TUNING_TAG
    from notewatt.cli import DEFAULT_PROFILE
    from notewatt.config import load_config

    notes = corpus(tmp_path / "notes.jsonl", (PROJECT_ROOT / "data/sample_notes/notes.jsonl").read_text().splitlines()[:4])
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    status = main(["--notes", str(notes), "--output", str(tmp_path / "delta"), "--trials", "2",
                   "--variant", "smollm2-135m-fp32",
                   "--write-profile", str(tmp_path / "tuned.yaml"), "tuning.sample=4", "engine.max_tokens=64",
                   "tuning.variants=[]", "tuning.cascades=[]",
                   "tuning.space={engine.batch_size: [2], engine.sort_by_length: [false]}",
                   f"mlflow.tracking_uri={uri}", f"mlflow.artifact_location={tmp_path}/artifacts"])
    assert status == 0
    client = mlflow.MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name("notewatt").experiment_id
    [parent] = client.search_runs([experiment], filter_string=f"tags.`{TUNING_TAG}` LIKE 'tune-%'")
    artifacts = {a.path for a in client.list_artifacts(parent.info.run_id, "tuning")}
    assert artifacts == {"tuning/trials.csv", "tuning/pareto.png", "tuning/best_profile.yaml"}
    children = client.search_runs([experiment], filter_string=f"tags.mlflow.parentRunId = '{parent.info.run_id}'")
    assert len(children) == 2 and all(c.data.metrics["output_tokens_per_joule"] > 0 for c in children)
    trials = pd.read_csv(client.download_artifacts(parent.info.run_id, "tuning/trials.csv"), dtype=str,
                         keep_default_na=False)
    assert list(trials["state"]) == ["COMPLETE", "COMPLETE"]
    met = trials[trials["feasible"] == "True"]
    best = met.loc[met["output_tokens_per_joule"].astype(float).idxmax()]  # what the profile must hold
    tuned = load_config([DEFAULT_PROFILE, tmp_path / "tuned.yaml"])  # --config accepts the best settings
    assert tuned.engine.batch_size == json.loads(best["param.engine.batch_size"])
    assert tuned.engine.sort_by_length == json.loads(best["param.engine.sort_by_length"])
    assert f"trial {best['trial']}, output_tokens_per_joule" in (tmp_path / "tuned.yaml").read_text()


def test_an_empty_sample_stops_before_any_trial(spark, tmp_path, capsys):
    from jobs.tune_energy import main
    from notewatt.cli import run_job

    notes = corpus(tmp_path / "empty.jsonl", [json.dumps({"note_id": "n1", "text": "   "})])
    with pytest.raises(SystemExit) as exit_:
        run_job(lambda: main(["--notes", str(notes), "--output", str(tmp_path / "delta"), "tuning.sample=4",
                              "--variant", "smollm2-135m-fp32"]))
    assert exit_.value.code == 2
    assert "notewatt: error: the sample is empty" in capsys.readouterr().err
