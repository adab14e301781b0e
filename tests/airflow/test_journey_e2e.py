"""smartcity_journey end to end on the session stack: a small journey with injected bad records, driven over
Airflow's REST API like the UI does. Reconciliation must pass, and the lake, read directly from the
Parquet files (not through Athena), must hold what the producer's report says it sent."""

from __future__ import annotations

import json
import time
from collections import Counter
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.fs as pafs
import pytest

from smartcity.airflow_client import AirflowClient
from smartcity.settings import Settings

pytestmark = [
    pytest.mark.integration,
    pytest.mark.slow,
]

JOURNEY = {"vehicles": 2, "speed_up": 600, "duration": 20, "bad_record_rate": 0.05, "seed": 11}


def _failure_details(airflow: AirflowClient, run_id: str) -> str:
    lines = []
    for ti in airflow.task_instances("smartcity_journey", run_id):
        if ti["state"] in ("failed", "upstream_failed"):
            log = airflow.task_log("smartcity_journey", run_id, ti["task_id"], ti["try_number"], ti["map_index"])
            lines.append(f"--- {ti['task_id']} [{ti['map_index']}] {ti['state']}\n{log[-1500:]}")
    return "\n".join(lines)


@pytest.fixture(scope="module")
def journey(airflow: AirflowClient) -> dict[str, Any]:
    started = time.monotonic()
    run_id = airflow.trigger("smartcity_journey", JOURNEY)["dag_run_id"]
    run = airflow.wait_for_run("smartcity_journey", run_id, timeout_s=900)
    assert run["state"] == "success", _failure_details(airflow, run_id)
    plan = airflow.xcom("smartcity_journey", run_id, "plan_journey")
    summary = airflow.xcom("smartcity_journey", run_id, "reconcile_with_report")
    return {"run": run, "plan": plan, "summary": summary, "seconds": time.monotonic() - started}


def _s3fs(settings: Settings) -> pafs.S3FileSystem:
    return pafs.S3FileSystem(
        access_key=settings.access_key,
        secret_key=settings.secret_key,
        endpoint_override=settings.s3_endpoint,
        scheme="http",
        region=settings.aws_region,
    )


def _report(settings: Settings, plan: dict[str, str]) -> dict[str, Any]:
    body = settings.boto3_client("s3").get_object(Bucket=settings.lake_bucket, Key=plan["report_key"])["Body"]
    return json.loads(body.read())


def _ts(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def test_journey_reconciles(journey: dict[str, Any], stack: Settings) -> None:
    report = _report(stack, journey["plan"])
    assert report["status"] == "completed"
    assert report["vehicles"] == JOURNEY["vehicles"] and report["seed"] == JOURNEY["seed"]
    injected = sum(sum(t["injected_acknowledged"].values()) for t in report["topics"].values())
    assert injected > 0, "the journey must carry bad records for the test to mean anything"
    lake_rows = journey["summary"]["lake_rows"]
    for stream, counts in report["topics"].items():
        assert lake_rows.get(stream, 0) == counts["expected_valid"], stream


def test_lake_files_hold_exactly_the_reported_records(journey: dict[str, Any], stack: Settings) -> None:
    """Read every Parquet file under data/ and quarantine/ (as a crawler would) and count this journey's rows."""
    report = _report(stack, journey["plan"])
    fs = _s3fs(stack)
    for stream, counts in report["topics"].items():
        if not counts["expected_valid"]:
            continue
        data = ds.dataset(f"{stack.lake_bucket}/data/{stream}", filesystem=fs, format="parquet", partitioning="hive")
        times = data.to_table(columns=["event_time", "event_id"])
        first, last = _ts(counts["first_event_time"]), _ts(counts["last_event_time"])
        in_journey = pc.and_(
            pc.greater_equal(times["event_time"], pa.scalar(first, type=times["event_time"].type)),
            pc.less_equal(times["event_time"], pa.scalar(last, type=times["event_time"].type)),
        )
        ids = times.filter(in_journey)["event_id"]
        assert len(ids) == counts["expected_valid"], stream
        assert pc.count_distinct(ids).as_py() == len(ids), f"{stream}: duplicates in the lake"
    produced_from = _ts(report["started_at"]) - timedelta(minutes=1)
    produced_to = _ts(report["finished_at"]) + timedelta(minutes=1)
    quarantine = ds.dataset(f"{stack.lake_bucket}/quarantine", filesystem=fs, format="parquet", partitioning=None)
    rows = quarantine.to_table(columns=["topic", "reason", "kafka_timestamp"]).to_pylist()
    found = Counter((r["topic"], r["reason"]) for r in rows if produced_from <= r["kafka_timestamp"] <= produced_to)
    expected = Counter(
        {(s, reason): n for s, c in report["topics"].items() for reason, n in c["expected_quarantined"].items()}
    )
    assert found == expected


def test_success_updates_the_lake_asset_and_triggers_the_catalog(
    journey: dict[str, Any], airflow: AirflowClient
) -> None:
    run_id = journey["run"]["dag_run_id"]

    def from_this_journey(catalog_run: dict[str, Any]) -> bool:
        """The run was triggered by the lake asset event this journey run emitted (not by time: an asset-
        triggered run's run_after is when the event was queued, before the journey run itself ended)."""
        path = f"/api/v2/dags/smartcity_catalog/dagRuns/{quote(catalog_run['dag_run_id'], safe='')}"
        events = airflow.request("GET", f"{path}/upstreamAssetEvents")["asset_events"]
        return any(e.get("source_dag_id") == "smartcity_journey" and e.get("source_run_id") == run_id for e in events)

    def catalog_runs() -> list[dict[str, Any]]:
        runs = airflow.request(
            "GET", "/api/v2/dags/smartcity_catalog/dagRuns", params={"order_by": "-run_after", "limit": 10}
        )["dag_runs"]
        return [r for r in runs if r["run_type"] == "asset_triggered" and from_this_journey(r)]

    # The scheduler creates the run on its next loop once the event is queued; bounded, polled.
    deadline = time.monotonic() + 240
    while not catalog_runs():
        assert time.monotonic() < deadline, "no asset-triggered smartcity_catalog run from this journey's event"
        time.sleep(1)
