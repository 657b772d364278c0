"""Deployment configs, checked without a workspace or a scheduler: the Databricks bundle (databricks.yml and
resources/) and the Airflow DAG (imported with Airflow where it is installed)."""

import importlib
import os
import re
import tomllib
from datetime import timedelta
from pathlib import Path

import pytest
import yaml

from notewatt.cli import job_arguments, parse_job_config
from notewatt.config import read_profile

ROOT = Path(__file__).resolve().parents[1]
ROOT_CONFIG = yaml.safe_load((ROOT / "databricks.yml").read_text())
RESOURCE_FILES = sorted(f for pattern in ROOT_CONFIG["include"] for f in ROOT.glob(pattern))
BUNDLE_FILES = [ROOT / "databricks.yml", *RESOURCE_FILES]
JOBS = {key: (f, job) for f in RESOURCE_FILES
        for key, job in yaml.safe_load(f.read_text())["resources"]["jobs"].items()}
TASKS = [(key, f, task) for key, (f, job) in JOBS.items() for task in job["tasks"]]
TARGETS = sorted(ROOT_CONFIG["targets"])
RUNTIME_PROVIDED = {"pyspark", "delta-spark"}  # Databricks Runtime's own Spark; never installed over it
DAG_FILE = ROOT / "airflow" / "dags" / "notewatt_abstract_notes.py"
GPU_PROFILE = read_profile(ROOT / "conf" / "gpu_cluster.yaml")


def variable_values(target: str) -> dict:
    """Each variable's value in `target`: its default, unless the target sets it."""
    defaults = {name: spec.get("default") for name, spec in ROOT_CONFIG["variables"].items()}
    return defaults | ROOT_CONFIG["targets"][target].get("variables", {})


def resolve(text: str, target: str, job: dict) -> str:
    """What a task parameter becomes on the cluster: bundle substitutions, then job parameter references."""
    values = variable_values(target)
    text = text.replace("${workspace.file_path}", str(ROOT))
    text = re.sub(r"\$\{var\.([\w-]+)\}", lambda m: str(values[m.group(1)]), text)
    defaults = {p["name"]: p["default"] for p in job.get("parameters", [])}
    return re.sub(r"\{\{job\.parameters\.([\w-]+)\}\}", lambda m: resolve(defaults[m.group(1)], target, job), text)


def test_bundle_variables_are_declared_used_and_set_in_every_target():
    used = {name for f in BUNDLE_FILES for name in re.findall(r"\$\{var\.([\w-]+)", f.read_text())}
    declared = ROOT_CONFIG["variables"]
    assert used <= set(declared), f"undeclared: {used - set(declared)}"
    assert set(declared) <= used, f"declared but never used: {set(declared) - used}"
    for target in TARGETS:
        unset = [name for name, value in variable_values(target).items() if value is None]
        assert not unset, f"target {target} leaves {unset} without a value"


def test_bundle_targets():
    dev, prod = ROOT_CONFIG["targets"]["dev"], ROOT_CONFIG["targets"]["prod"]
    assert dev["mode"] == "development" and dev["default"] is True
    assert prod["mode"] == "production" and prod["workspace"]["root_path"]  # production mode requires a root_path


@pytest.mark.parametrize("key, resource_file, task", TASKS, ids=[t[0] for t in TASKS])
def test_bundle_tasks_run_files_that_exist(key, resource_file, task):
    script = (resource_file.parent / task["spark_python_task"]["python_file"]).resolve()
    assert script.is_file(), script
    synced = [p for p in task["spark_python_task"]["parameters"] if p.startswith("${workspace.file_path}/")]
    assert synced, "config files are passed by their synced workspace path"
    for parameter in synced:
        assert (ROOT / parameter.removeprefix("${workspace.file_path}/")).is_file(), parameter


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("key, resource_file, task", TASKS, ids=[t[0] for t in TASKS])
def test_bundle_task_parameters_parse_with_the_job_cli(key, resource_file, task, target):
    job, values = JOBS[key][1], variable_values(target)
    argv = [resolve(p, target, job) for p in task["spark_python_task"]["parameters"]]
    if "--variants" in argv:  # compare_variants: abstract_notes' options plus --variants
        at = argv.index("--variants")
        variants = argv.pop(at + 1).split(",")
        argv.pop(at)
    else:
        variants = []
    config = parse_job_config(job_arguments("test"), argv)
    assert config.output.catalog_schema == f"{values['catalog']}.{values['schema']}"
    assert config.corpus.path == values["notes"] and config.spark.partitions == values["partitions"]
    assert config.selected_variant.model == values["model_path"]
    assert config.mlflow.tracking_uri == "databricks" and config.mlflow.experiment == values["experiment"]
    assert config.mlflow.artifact_location is None
    assert set(variants) <= set(config.variants)


def test_bundle_cluster_applies_the_gpu_profile():
    """On Databricks the session exists before the job starts, so the profile's static Spark settings
    must be on the job cluster itself."""
    cluster = ROOT_CONFIG["variables"]["gpu_cluster"]["default"]
    profile = GPU_PROFILE["spark"]["conf"]
    for key in ("spark.task.resource.gpu.amount", "spark.python.worker.reuse"):
        assert cluster["spark_conf"][key] == profile[key], key
    for key, value in cluster["spark_env_vars"].items():
        assert profile.get(f"spark.executorEnv.{key}", GPU_PROFILE["engine"]["env"].get(key)) == value, key
    assert "gpu-ml" in ROOT_CONFIG["variables"]["spark_version"]["default"]
    for key, (_, job) in JOBS.items():
        assert [c["new_cluster"] for c in job["job_clusters"]] == ["${var.gpu_cluster}"], key
        assert all(t["libraries"] == "${var.libraries}" for t in job["tasks"]), key


def test_bundle_libraries_are_the_projects_dependencies():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = [*project["dependencies"], *project["optional-dependencies"]["gpu"]]
    expected = {d.replace(" ", "") for d in wanted if re.match(r"[\w.-]+", d).group() not in RUNTIME_PROVIDED}
    installed = {lib["pypi"]["package"].replace(" ", "") for lib in ROOT_CONFIG["variables"]["libraries"]["default"]}
    assert installed == expected


def test_airflow_dag_task_graph(tmp_path, monkeypatch):
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    monkeypatch.setenv("NOTEWATT_ALERT_EMAILS", "oncall@example.org, energy@example.org")
    for module in ("airflow.sdk", "airflow.providers.apache.spark.operators.spark_submit",
                   "airflow.providers.databricks.operators.databricks"):
        if os.environ.get("NOTEWATT_REQUIRE_AIRFLOW"):  # make test-airflow: a missing Airflow is a failure
            importlib.import_module(module)
        else:
            pytest.importorskip(module)
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(DAG_FILE))
    assert bag.import_errors == {}
    dag = bag.dags["notewatt_abstract_notes"]
    assert dag.schedule == "@daily" and not dag.catchup and dag.max_active_runs == 1
    assert {t.task_id: sorted(t.downstream_task_ids) for t in dag.tasks} == {
        "choose_platform": ["abstract_notes_databricks", "abstract_notes_spark"],
        "abstract_notes_spark": ["regression_gate"],
        "abstract_notes_databricks": ["regression_gate"],
        "regression_gate": [],
    }
    spark, databricks, gate = (dag.get_task(t) for t in ("abstract_notes_spark", "abstract_notes_databricks",
                                                           "regression_gate"))
    for job in (spark, databricks):
        assert job.retries == 2 and job.retry_delay == timedelta(minutes=10)
    assert gate.retries == 0 and gate.trigger_rule == "none_failed_min_one_success"
    assert "jobs/check_run.py --config conf/gpu_cluster.yaml --run-id '{{ run_id }}'" in gate.bash_command

    # Both platforms run under the Airflow run id the gate looks for, with files that exist.
    assert spark.application_args[spark.application_args.index("--run-id") + 1] == "{{ run_id }}"
    home = "{{ var.value.get('notewatt_home', '/opt/notewatt') }}"
    for path in (spark.application, spark.files, spark.application_args[spark.application_args.index("--config") + 1]):
        assert (ROOT / path.removeprefix(home + "/")).is_file(), path
    job_file, job = JOBS["abstract_notes"]
    assert databricks.job_parameters == {"run_id": "{{ run_id }}"}
    assert set(databricks.job_parameters) <= {p["name"] for p in job["parameters"]}
    assert job["name"] in databricks.job_name

    [deadline] = dag.deadline
    assert deadline.interval == timedelta(hours=6)
    assert deadline.callback.path == "airflow.providers.smtp.notifications.smtp.SmtpNotifier"
    assert deadline.callback.kwargs["to"] == ["oncall@example.org", "energy@example.org"]

    choose = dag.get_task("choose_platform").python_callable
    assert choose(params={"platform": "databricks"}) == "abstract_notes_databricks"
    monkeypatch.setenv("AIRFLOW_VAR_NOTEWATT_PLATFORM", "spark")
    assert choose(params={"platform": None}) == "abstract_notes_spark"
    with pytest.raises(ValueError, match="unknown platform"):
        choose(params={"platform": "emr"})


def test_the_spark_3_5_lts_target_adds_spark_nlp_to_the_projects_libraries():
    """DBR 16.4 LTS (Spark 3.5, Scala 2.12) with Spark NLP: its pip package and its jar as pyproject's `spark35`
    extra pins it, without the native runtimes this project leaves out (notewatt/spark_line.py)."""
    from notewatt.spark_line import SPARK_NLP_EXCLUDES

    lts = variable_values("lts")
    assert lts["spark_version"].startswith("16.4.x-gpu-ml-scala2.12") and lts["preprocess_engine"] == "spark_nlp"
    pin = next(d for d in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
               ["spark35"] if d.startswith("spark-nlp=="))
    base = ROOT_CONFIG["variables"]["libraries"]["default"]
    [maven] = [lib["maven"] for lib in lts["libraries"] if "maven" in lib]
    assert lts["libraries"][:len(base)] == base and {"pypi": {"package": pin}} in lts["libraries"]
    assert maven["coordinates"] == f"com.johnsnowlabs.nlp:spark-nlp_2.12:{pin.split('==')[1]}"
    assert tuple(maven["exclusions"]) == SPARK_NLP_EXCLUDES
