"""Test DAG: fails on purpose, so the DAG-level failure notifier must raise an alert."""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import dag, task

from plugins.notifiers import PipelineAlertNotifier


@dag(
    dag_id="smartcity_test_failure",
    schedule=None,
    start_date=datetime(2025, 1, 1),
    catchup=False,
    tags=["smartcity", "test"],
    default_args={"owner": "smartcity-tests", "retries": 0},
    on_failure_callback=PipelineAlertNotifier(),
)
def smartcity_test_failure() -> None:
    @task
    def fail_on_purpose() -> None:
        raise RuntimeError("forced failure for the alert test")

    fail_on_purpose()


smartcity_test_failure()
