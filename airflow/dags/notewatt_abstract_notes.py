"""NoteWatt, daily: abstract the notes on a Spark cluster or on Databricks, then run the regression gate.

    choose_platform ─┬─▶ abstract_notes_spark ──────┬─▶ regression_gate
                     └─▶ abstract_notes_databricks ─┘

The platform is the run's `platform` param, else the Airflow Variable `notewatt_platform` ("spark").
The NoteWatt run id is the Airflow run id, so a retry resumes that run (only the notes it has not committed go to
the engine; a task timeout loses at most a slice) and the gate finds its MLflow run by tag. Airflow 3.1+ (deadline alerts replace Airflow 2's `sla=`). What it needs:

- Variables: `notewatt_home` (a checkout on the Airflow worker, set up with `make setup`; default
  /opt/notewatt), `notewatt_notes` and `notewatt_output` (Spark path), `notewatt_python` (the Python with
  the project and its `gpu` extra on every Spark node), `notewatt_databricks_job` (the bundle's job name;
  a dev deployment prefixes it with "[dev <user>] ").
- Connections: `spark_default` (master, deploy mode client), `databricks_default`, `smtp_default`.
- Environment of the DAG processor: NOTEWATT_ALERT_EMAILS, comma-separated, for deadline misses.
"""

from __future__ import annotations

import os
from datetime import timedelta

import pendulum
from airflow.providers.apache.spark.operators.spark_submit import SparkSubmitOperator
from airflow.providers.databricks.operators.databricks import DatabricksRunNowOperator
from airflow.providers.smtp.notifications.smtp import SmtpNotifier
from airflow.providers.standard.operators.bash import BashOperator
from airflow.sdk import DAG, AsyncCallback, DeadlineAlert, DeadlineReference, Param, Variable, task

DAG_ID = "notewatt_abstract_notes"
PLATFORMS = ("spark", "databricks")
HOME = "{{ var.value.get('notewatt_home', '/opt/notewatt') }}"
RUN_ID = "{{ run_id }}"
# Targets from conf/targets.yaml; add --baseline-tag key=value (an MLflow tag on an approved run) to also
# compare against a baseline. Reads the Delta tables under the profile's output path.
GATE_COMMAND = f"spark-submit jobs/check_run.py --config conf/gpu_cluster.yaml --run-id '{RUN_ID}'"
DEADLINE = timedelta(hours=6)  # after the run was queued; the jobs themselves time out at 8 h


@task.branch
def choose_platform(params: dict | None = None) -> str:
    """The task id of the abstraction job on the chosen platform."""
    platform = (params or {}).get("platform") or Variable.get("notewatt_platform", default="spark")
    if platform not in PLATFORMS:
        raise ValueError(f"unknown platform {platform!r}; expected one of {PLATFORMS}")
    return f"abstract_notes_{platform}"


def deadline_alert() -> DeadlineAlert:
    """Mail NOTEWATT_ALERT_EMAILS when a run has not finished DEADLINE after it was queued."""
    recipients = [r.strip() for r in os.environ.get("NOTEWATT_ALERT_EMAILS", "").split(",") if r.strip()]
    return DeadlineAlert(
        reference=DeadlineReference.DAGRUN_QUEUED_AT,
        interval=DEADLINE,
        callback=AsyncCallback(
            SmtpNotifier,
            kwargs={
                "to": recipients,
                "subject": "NoteWatt run {{ dag_run.run_id }} missed its deadline",
                "html_content": "Not finished by {{ deadline.deadline_time }}: dag run {{ dag_run.run_id }}.",
            },
        ),
    )


with DAG(
    dag_id=DAG_ID,
    schedule="@daily",
    start_date=pendulum.datetime(2026, 11, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,  # one run at a time on the GPU cluster
    default_args={"retries": 2, "retry_delay": timedelta(minutes=10), "execution_timeout": timedelta(hours=8)},
    params={
        "platform": Param(None, type=["null", "string"], enum=[None, *PLATFORMS],
                          description="spark or databricks; empty: the notewatt_platform Variable"),
    },
    deadline=deadline_alert(),
    tags=["notewatt"],
    doc_md=__doc__,
) as dag:
    spark_job = SparkSubmitOperator(
        task_id="abstract_notes_spark",
        conn_id="spark_default",
        name="notewatt-abstract-notes",
        application=f"{HOME}/jobs/abstract_notes.py",
        application_args=[
            "--config", f"{HOME}/conf/gpu_cluster.yaml",
            "--notes", "{{ var.value.notewatt_notes }}",
            "--output", "{{ var.value.notewatt_output }}",
            "--run-id", RUN_ID,
        ],
        files=f"{HOME}/scripts/gpu_discovery.sh",  # shipped to each executor's working directory (YARN)
        conf={"spark.executor.resource.gpu.discoveryScript": "./gpu_discovery.sh"},
        env_vars={
            "SPARK_CONF_DIR": f"{HOME}/conf/spark",  # Delta's package and logging, as scripts/env.sh sets
            "PYSPARK_PYTHON": "{{ var.value.get('notewatt_python', '/opt/notewatt/.venv/bin/python') }}",
        },
    )
    databricks_job = DatabricksRunNowOperator(
        task_id="abstract_notes_databricks",
        databricks_conn_id="databricks_default",
        job_name="{{ var.value.get('notewatt_databricks_job', 'notewatt-abstract-notes') }}",
        job_parameters={"run_id": RUN_ID},
    )
    gate = BashOperator(
        task_id="regression_gate",
        bash_command=f"source scripts/env.sh && {GATE_COMMAND}",
        cwd=HOME,
        trigger_rule="none_failed_min_one_success",  # after whichever platform ran
        retries=0,  # a regression does not go away by asking again
    )
    choose_platform() >> [spark_job, databricks_job] >> gate
