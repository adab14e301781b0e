"""Airflow as the stack runs it: four supervised processes on loopback, login required, the DAGs parsed,
and the alerts (DAG failure notifier, deadline alert) reaching `smartcity alerts`."""

from __future__ import annotations

import json
import stat
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest
from typer.testing import CliRunner

from smartcity import alerts
from smartcity.airflow_client import AirflowClient, AirflowError
from smartcity.settings import Settings
from smartcity.stack.runner import Stack
from smartcity.stack.services.airflow import airflow_home

pytestmark = pytest.mark.integration

AIRFLOW_SERVICES = ("airflow-api-server", "airflow-scheduler", "airflow-dag-processor", "airflow-triggerer")


def wait_for(condition: Callable[[], Any], timeout_s: float, what: str, interval_s: float = 0.5) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}")
        time.sleep(interval_s)


def alerts_for(settings: Settings, run_id: str, kind: str) -> list[alerts.Alert]:
    return [a for a in alerts.read_alerts(settings)[0] if a.run_id == run_id and a.kind == kind]


@pytest.fixture(scope="module")
def test_runs(airflow: AirflowClient, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Trigger the three test DAGs at once (they run side by side; each test awaits its own)."""
    release = tmp_path_factory.mktemp("deadline") / "release"
    return {
        "failure": airflow.trigger("smartcity_test_failure")["dag_run_id"],
        "deadline": airflow.trigger("smartcity_test_deadline", {"release_file": str(release)})["dag_run_id"],
        "release": release,
        "connections": airflow.trigger("smartcity_test_connections")["dag_run_id"],
    }


def test_four_components_run_supervised_and_healthy(stack_runner: Stack, airflow: AirflowClient) -> None:
    statuses = {s.name: s for s in stack_runner.status()}
    for name in AIRFLOW_SERVICES:
        assert statuses[name].state == "RUNNING" and statuses[name].healthy, statuses[name]
    health = airflow.health()
    assert {part: health[part]["status"] for part in ("metadatabase", "scheduler", "triggerer", "dag_processor")} == {
        "metadatabase": "healthy",
        "scheduler": "healthy",
        "triggerer": "healthy",
        "dag_processor": "healthy",
    }


def test_airflow_listens_on_loopback_only(stack_runner: Stack, stack: Settings) -> None:
    listening = set()
    for status in stack_runner.status():
        if not status.name.startswith("airflow") or not status.pid:
            continue
        root = psutil.Process(status.pid)
        for proc in [root, *root.children(recursive=True)]:
            for conn in proc.net_connections(kind="inet"):
                if conn.status == psutil.CONN_LISTEN:
                    listening.add((conn.laddr.ip, conn.laddr.port))
    assert listening == {("127.0.0.1", stack.airflow_port)}


def test_secrets_and_config_are_private(stack: Settings) -> None:
    home = airflow_home(stack)
    for name in ("airflow.cfg", "passwords.json", "keys.json", "connections.json"):
        assert stat.S_IMODE((home / name).stat().st_mode) == 0o600, name
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    assert stack.admin_password and stack.admin_password not in (home / "airflow.cfg").read_text()


def test_login_with_the_generated_password_only(stack: Settings) -> None:
    url = stack.airflow_base_url
    good = httpx.post(f"{url}/auth/token", json={"username": "admin", "password": stack.admin_password})
    assert good.status_code == 201 and good.json()["access_token"]
    for password in ("admin", "", stack.admin_password + "x"):
        refused = httpx.post(f"{url}/auth/token", json={"username": "admin", "password": password})
        assert refused.status_code in (400, 401), password  # 400: an empty password is not even a credential


def test_unauthenticated_requests_are_refused(stack: Settings) -> None:
    url = stack.airflow_base_url
    trigger = httpx.post(f"{url}/api/v2/dags/smartcity_journey/dagRuns", json={"logical_date": None, "conf": {}})
    assert trigger.status_code == 401
    assert httpx.get(f"{url}/api/v2/dags").status_code == 401
    forged = httpx.get(f"{url}/api/v2/dags", headers={"Authorization": "Bearer not-a-token"})
    assert forged.status_code in (401, 403)


def test_dags_are_listed_without_import_errors(airflow: AirflowClient) -> None:
    dags = {d["dag_id"]: d for d in airflow.dags()}
    assert {"smartcity_journey", "smartcity_catalog"} <= set(dags)
    assert airflow.import_errors() == []
    journey = dags["smartcity_journey"]
    assert journey["is_paused"] is False
    assert journey["owners"] == ["smartcity"]
    assert "journey" in {t["name"] for t in journey["tags"]}


def test_invalid_params_are_refused_with_the_param_named(airflow: AirflowClient) -> None:
    before = airflow.request("GET", "/api/v2/dags/smartcity_journey/dagRuns")["total_entries"]
    with pytest.raises(AirflowError) as refused:
        airflow.trigger("smartcity_journey", {"vehicles": 0, "bad_record_rate": 0.1})
    assert refused.value.status == 400
    assert "vehicles" in str(refused.value)
    assert airflow.request("GET", "/api/v2/dags/smartcity_journey/dagRuns")["total_entries"] == before


def test_failed_run_raises_an_alert(airflow: AirflowClient, stack: Settings, test_runs: dict[str, Any]) -> None:
    run_id = test_runs["failure"]
    assert airflow.wait_for_run("smartcity_test_failure", run_id, timeout_s=120)["state"] == "failed"
    [alert] = wait_for(lambda: alerts_for(stack, run_id, "dag_failed"), 60, "the failure alert")
    assert alert.dag_id == "smartcity_test_failure"
    assert alert.task_id == "fail_on_purpose"
    assert alert.url and alert.url.startswith(stack.airflow_base_url)
    shown = CliRunner().invoke(alerts.app, ["--json", "-n", "50"])
    assert shown.exit_code == 0
    assert run_id in {json.loads(line)["run_id"] for line in shown.output.splitlines()}


def test_deadline_alert_fires_while_the_run_is_late(
    airflow: AirflowClient, stack: Settings, test_runs: dict[str, Any]
) -> None:
    run_id = test_runs["deadline"]
    [alert] = wait_for(lambda: alerts_for(stack, run_id, "deadline_missed"), 90, "the deadline alert")
    assert alert.dag_id == "smartcity_test_deadline"
    # The alert came while the run was still going; releasing it lets it succeed.
    assert airflow.dag_run("smartcity_test_deadline", run_id)["state"] == "running"
    Path(test_runs["release"]).touch()
    assert airflow.wait_for_run("smartcity_test_deadline", run_id, timeout_s=120)["state"] == "success"
    assert len(alerts_for(stack, run_id, "deadline_missed")) == 1


def test_connections_reach_s3_and_spark(airflow: AirflowClient, stack: Settings, test_runs: dict[str, Any]) -> None:
    run_id = test_runs["connections"]
    run = airflow.wait_for_run("smartcity_test_connections", run_id, timeout_s=240)
    if run["state"] != "success":
        logs = {
            t["task_id"]: airflow.task_log("smartcity_test_connections", run_id, t["task_id"])[-2000:]
            for t in airflow.task_instances("smartcity_test_connections", run_id)
            if t["state"] != "success"
        }
        pytest.fail(f"connections smoke DAG {run['state']}: {logs}")
    buckets = airflow.xcom("smartcity_test_connections", run_id, "list_buckets")
    assert stack.lake_bucket in buckets and stack.images_bucket in buckets
    assert "COUNTED 1000" in airflow.task_log("smartcity_test_connections", run_id, "spark_count")


def test_status_names_where_to_log_in(stack_runner: Stack, stack: Settings) -> None:
    env = stack_runner.env()
    assert env["SMARTCITY_AIRFLOW_URL"] == stack.airflow_base_url
    assert env["SMARTCITY_AIRFLOW_USER"] == "admin"
    assert env["SMARTCITY_AIRFLOW_PASSWORD"] == stack.admin_password
    assert env["AIRFLOW_HOME"] == str(airflow_home(stack))
