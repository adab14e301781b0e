"""Every DAG in dags/ imports cleanly and follows the project's Airflow manners."""

from __future__ import annotations

import copy
import json
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from airflow.dag_processing.dagbag import DagBag
from airflow.sdk import AsyncCallback
from airflow.sdk.definitions._internal.abstractoperator import AbstractOperator
from airflow.sdk.exceptions import ParamValidationError
from airflow.sdk.module_loading import import_string

from plugins.notifiers import PipelineAlertNotifier
from smartcity.settings import PROJECT_ROOT

DAGS_DIR = PROJECT_ROOT / "dags"
EXPECTED_DAGS = {"smartcity_journey", "smartcity_catalog"}


class _Forbidden(Exception):
    pass


@pytest.fixture(scope="module")
def dagbag() -> DagBag:
    return DagBag(dag_folder=str(DAGS_DIR))


def test_every_dag_file_imports_without_errors(dagbag: DagBag) -> None:
    assert dagbag.import_errors == {}
    assert set(dagbag.dag_ids) == EXPECTED_DAGS


def test_parsing_reads_no_connection_variable_or_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """DAG files are parsed every 30 s: they must not reach a connection, a variable or a socket."""

    def forbidden(*args: object, **kwargs: object) -> None:
        raise _Forbidden(f"called while parsing: {args!r}")

    from airflow.sdk import BaseHook, Connection, Variable

    monkeypatch.setattr(BaseHook, "get_connection", classmethod(forbidden))
    monkeypatch.setattr(Connection, "get", classmethod(forbidden))
    monkeypatch.setattr(Variable, "get", staticmethod(forbidden))
    monkeypatch.setattr(socket.socket, "connect", forbidden)
    monkeypatch.delenv("AIRFLOW_CONN_AWS_DEFAULT", raising=False)
    monkeypatch.delenv("AIRFLOW_CONN_SPARK_DEFAULT", raising=False)
    bag = DagBag(dag_folder=str(DAGS_DIR))
    assert bag.import_errors == {}
    assert set(bag.dag_ids) == EXPECTED_DAGS


def test_no_deprecation_warnings_from_our_code() -> None:
    """In a fresh interpreter (so module-level warnings of plugins/ count too): no deprecated Airflow API."""
    script = textwrap.dedent(
        f"""
        import json, warnings
        warnings.simplefilter("always")
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            import plugins.notifiers, plugins.lake_tasks, plugins.journey_tasks
            from airflow.dag_processing.dagbag import DagBag
            bag = DagBag(dag_folder={str(DAGS_DIR)!r})
        ours = [
            {{"category": w.category.__name__, "file": w.filename, "message": str(w.message)}}
            for w in caught
            if issubclass(w.category, (DeprecationWarning, PendingDeprecationWarning, FutureWarning))
            and ("/dags/" in w.filename or "/plugins/" in w.filename)
        ]
        for path, messages in bag.captured_warnings.items():
            ours += [{{"file": path, "message": m}} for m in messages]
        print(json.dumps({{"warnings": ours, "errors": list(bag.import_errors)}}))
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result == {"warnings": [], "errors": []}


@pytest.mark.parametrize("dag_id", sorted(EXPECTED_DAGS))
def test_airflow_manners(dagbag: DagBag, dag_id: str) -> None:
    dag = dagbag.dags[dag_id]
    assert dag.doc_md and len(dag.doc_md) > 200, "doc_md explains the DAG in the UI"
    assert "smartcity" in dag.tags
    assert dag.max_active_runs == 1
    assert dag.catchup is False
    failure_callbacks = (
        dag.on_failure_callback if isinstance(dag.on_failure_callback, list) else [dag.on_failure_callback]
    )
    assert any(isinstance(cb, PipelineAlertNotifier) for cb in failure_callbacks)
    for operator in dag.tasks:
        assert isinstance(operator, AbstractOperator)
        assert operator.owner == "smartcity", operator.task_id
        assert operator.retries is not None, operator.task_id
        assert operator.task_id.split(".")[-1].islower(), operator.task_id
    dag.check_cycle()  # raises on a cycle
    assert len(dag.topological_sort()) == len(dag.tasks)


def test_retries_only_where_a_retry_is_safe(dagbag: DagBag) -> None:
    journey = dagbag.dags["smartcity_journey"]
    # Re-sending a journey would duplicate it; the streaming job resumes from its checkpoint.
    assert journey.get_task("produce_journey").retries == 0
    assert journey.get_task("stream_to_lake").retries >= 1
    assert journey.get_task("check_services").retries >= 1


def test_journey_pipeline_order(dagbag: DagBag) -> None:
    dag = dagbag.dags["smartcity_journey"]

    def upstream_closure(task_id: str) -> set[str]:
        return {t.task_id for t in dag.get_task(task_id).get_flat_relatives(upstream=True)}

    assert {"check_services", "create_topics", "create_bucket", "plan_journey"} <= upstream_closure("produce_journey")
    assert "produce_journey" not in upstream_closure("stream_to_lake"), "producer and job run side by side"
    assert {"produce_journey", "stream_to_lake"} <= upstream_closure("crawl_lake.crawl_data")
    assert {"crawl_lake.crawl_data", "crawl_lake.crawl_quarantine"} <= upstream_closure("check_lake.count_lake_rows")
    reconcile_upstream = upstream_closure("reconcile_with_report")
    assert {
        "load_run_report",
        "check_lake.evaluate_stream_rules",
        "check_lake.check_snapshots_exist",
    } <= reconcile_upstream
    assert [o.name for o in dag.get_task("reconcile_with_report").outlets] == ["smartcity_lake"]


def test_journey_deadline_alert_is_importable_by_the_triggerer(dagbag: DagBag) -> None:
    """The triggerer imports the callback by dotted path: it must live in an installed package."""
    dag = dagbag.dags["smartcity_journey"]
    deadlines = dag.deadline if isinstance(dag.deadline, list) else [dag.deadline]
    assert deadlines and deadlines[0] is not None
    callback = deadlines[0].callback
    assert isinstance(callback, AsyncCallback)
    assert callback.path == "plugins.notifiers.PipelineAlertNotifier"
    assert import_string(callback.path) is PipelineAlertNotifier
    assert callback.kwargs["kind"] == "deadline_missed"


def test_catalog_runs_on_the_lake_asset_and_a_cron(dagbag: DagBag) -> None:
    schedule = dagbag.dags["smartcity_catalog"].timetable
    assert [asset.name for asset in schedule.asset_condition.objects] == ["smartcity_lake"]
    assert schedule.timetable.expression == "0 */6 * * *"


@pytest.mark.parametrize(
    ("params", "complaint"),
    [
        ({"vehicles": 0}, "vehicles"),
        ({"vehicles": "five"}, "vehicles"),
        ({"speed_up": 0}, "speed_up"),
        ({"bad_record_rate": 0.9}, "bad_record_rate"),
        ({"duration": -1}, "duration"),
    ],
)
def test_invalid_journey_params_are_refused_with_the_param_named(
    dagbag: DagBag, params: dict[str, object], complaint: str
) -> None:
    resolved = copy.deepcopy(dagbag.dags["smartcity_journey"].params)
    with pytest.raises(ParamValidationError, match=complaint):
        resolved.update(params)  # validates each value, as Airflow does for a trigger's conf


def test_default_journey_params_are_valid(dagbag: DagBag) -> None:
    assert dagbag.dags["smartcity_journey"].params.validate() == {
        "vehicles": 5,
        "speed_up": 60,
        "seed": 42,
        "duration": 180,
        "bad_record_rate": 0.01,
    }


def test_dag_files_stay_thin() -> None:
    """Logic lives in plugins/ and the other packages: a DAG file is wiring and documentation."""
    for path in DAGS_DIR.glob("*.py"):
        code = [line for line in path.read_text().splitlines() if line.strip() and not line.strip().startswith("#")]
        assert len(code) < 130, f"{path.name} has {len(code)} lines"
        assert "def " not in path.read_text(), f"{path.name} defines functions: move them to plugins/"


def test_dags_dir_is_what_the_stack_serves() -> None:
    from smartcity.stack.services.airflow import DAGS_FOLDER

    assert Path(DAGS_FOLDER) == DAGS_DIR
