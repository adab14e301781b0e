"""Test DAG: a 5-second deadline and a task that waits for the test to release it, so the deadline fires."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from airflow.providers.standard.sensors.python import PythonSensor
from airflow.sdk import AsyncCallback, DeadlineAlert, DeadlineReference, dag

from plugins.notifiers import PipelineAlertNotifier


def _released(release_file: str) -> bool:
    return Path(release_file).exists()


@dag(
    dag_id="smartcity_test_deadline",
    schedule=None,
    start_date=datetime(2025, 1, 1),
    catchup=False,
    tags=["smartcity", "test"],
    default_args={"owner": "smartcity-tests", "retries": 0},
    params={"release_file": "/nonexistent"},
    deadline=DeadlineAlert(
        reference=DeadlineReference.DAGRUN_QUEUED_AT,
        interval=timedelta(seconds=5),
        callback=AsyncCallback(PipelineAlertNotifier, kwargs={"kind": "deadline_missed"}),
    ),
)
def smartcity_test_deadline() -> None:
    PythonSensor(
        task_id="wait_for_release",
        python_callable=_released,
        op_kwargs={"release_file": "{{ params.release_file }}"},
        poke_interval=1,
        timeout=120,
        mode="poke",
    )


smartcity_test_deadline()
