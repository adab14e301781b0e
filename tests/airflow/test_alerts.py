"""The alert notifier and ``smartcity alerts``, without a running Airflow (the stack tests cover that)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from types import SimpleNamespace

import pytest
from airflow.sdk import DAG
from typer.testing import CliRunner

from plugins.notifiers import PipelineAlertNotifier, alert_from_context
from smartcity.alerts import Alert, alerts_path, app, read_alerts, record_alert
from smartcity.settings import Settings


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SMARTCITY_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("SMARTCITY_ALERT_SNS_TOPIC_ARN", raising=False)
    monkeypatch.delenv("SMARTCITY_ALERT_EMAIL", raising=False)
    return tmp_path


def test_alerts_round_trip_and_unreadable_lines_are_counted(data_dir: Path) -> None:
    settings = Settings()
    first = Alert(kind="dag_failed", dag_id="d", run_id="r1", message="boom")
    second = Alert(kind="deadline_missed", dag_id="d", run_id="r2", message="slow")
    path = record_alert(first, settings)
    with path.open("a") as handle:
        handle.write("{not json\n")
    record_alert(second, settings)
    assert path == data_dir / "alerts" / "alerts.jsonl"
    assert read_alerts(settings) == ([first, second], 1)


def test_failure_callback_context_of_the_dag_processor(data_dir: Path) -> None:
    # What the dag-processor hands a DAG failure callback: the DAG, the run id, the reason, the last task.
    context = {
        "dag": DAG("smartcity_journey", schedule=None),
        "run_id": "manual__2025-03-01T06:00:00+00:00",
        "reason": "task_failure",
        "ti": SimpleNamespace(dag_id="smartcity_journey", task_id="reconcile_with_report"),
    }
    PipelineAlertNotifier()(context)
    [alert], unreadable = read_alerts(Settings())
    assert unreadable == 0
    assert (alert.kind, alert.dag_id, alert.run_id, alert.task_id) == (
        "dag_failed",
        "smartcity_journey",
        "manual__2025-03-01T06:00:00+00:00",
        "reconcile_with_report",
    )
    assert "reconcile_with_report" in alert.message and "task_failure" in alert.message


def test_deadline_callback_as_the_triggerer_awaits_it(data_dir: Path) -> None:
    # The triggerer does `await PipelineAlertNotifier(**kwargs, context=...)` with a small, JSON-like context.
    context = {
        "dag_run": {"dag_id": "smartcity_journey", "dag_run_id": "manual__x", "state": "running"},
        "deadline": {"id": "0", "deadline_time": "2025-03-01 06:30:00+00:00"},
    }

    async def fire() -> None:
        await PipelineAlertNotifier(kind="deadline_missed", context=context)

    asyncio.run(fire())
    [alert], _ = read_alerts(Settings())
    assert (alert.kind, alert.dag_id, alert.run_id, alert.task_id) == (
        "deadline_missed",
        "smartcity_journey",
        "manual__x",
        None,
    )
    assert "2025-03-01 06:30:00" in alert.message


def test_fixed_message_is_kept() -> None:
    alert = alert_from_context("deadline_missed", {"dag_run": {"dag_id": "d", "run_id": "r"}}, "too slow")
    assert alert.message == "too slow"


def test_alerts_are_forwarded_to_the_providers_notifiers_when_configured(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow.providers.amazon.aws.notifications.sns import SnsNotifier
    from airflow.providers.smtp.notifications.smtp import SmtpNotifier

    assert PipelineAlertNotifier._forwarders(Alert(kind="dag_failed", dag_id="d", message="m")) == []
    monkeypatch.setenv("SMARTCITY_ALERT_SNS_TOPIC_ARN", "arn:aws:sns:us-east-1:000000000000:alerts")
    monkeypatch.setenv("SMARTCITY_ALERT_EMAIL", "oncall@example.com")
    sns, smtp = PipelineAlertNotifier._forwarders(Alert(kind="dag_failed", dag_id="d", message="m"))
    assert isinstance(sns, SnsNotifier) and sns.target_arn.endswith(":alerts")
    assert json.loads(sns.message)["dag_id"] == "d"
    assert isinstance(smtp, SmtpNotifier) and smtp.to == "oncall@example.com"


def test_cli_shows_the_latest_alerts(data_dir: Path) -> None:
    settings = Settings()
    for i in range(3):
        record_alert(Alert(kind="dag_failed", dag_id="d", run_id=f"run-{i}", message=f"failure {i}"), settings)
    runner = CliRunner()
    as_json = runner.invoke(app, ["--json", "-n", "2"])
    assert as_json.exit_code == 0, as_json.output
    assert [json.loads(line)["run_id"] for line in as_json.output.splitlines()] == ["run-1", "run-2"]
    table = runner.invoke(app, [], env={"COLUMNS": "200"})
    assert table.exit_code == 0
    assert "failure 0" in table.output and "failure 2" in table.output


def test_cli_without_alerts_says_where_it_looked(data_dir: Path) -> None:
    result = CliRunner().invoke(app, [])
    assert result.exit_code == 0
    assert "no alerts" in result.output and str(alerts_path(Settings())) in result.output.replace("\n", "")
