"""The journey-specific tasks of ``smartcity_journey``: topics, planning, producing, streaming, reconciling."""

from __future__ import annotations

import json
import shlex
import sys
from datetime import timedelta
from importlib.util import find_spec
from typing import Any

from airflow.providers.amazon.aws.hooks.s3 import S3Hook
from airflow.providers.apache.spark.operators.spark_submit import SparkSubmitOperator
from airflow.sdk import task
from airflow.sdk.exceptions import AirflowException, AirflowFailException

from plugins.journey import journey_id, next_journey_start, report_path
from plugins.lake import REPORTS_PREFIX, reconcile
from plugins.lake_tasks import athena_rows, lake_asset, lake_names
from smartcity.contracts.records import CONTRACTS
from smartcity.settings import get_settings

TOPIC_PARTITIONS = 3  # the producer's default: a vehicle's events stay ordered in one partition
TOPIC_RETENTION = timedelta(days=7)
RECENT_REPORTS = 10  # journeys to look back at for the next start time


@task
def create_topics() -> list[str]:
    """The five stream topics exist (created through Kafka's admin API if missing; idempotent)."""
    from confluent_kafka import KafkaException

    from producers.kafka_io import ProducerError, ensure_topics

    bootstrap = get_settings().kafka_bootstrap
    try:
        return ensure_topics(
            bootstrap, list(CONTRACTS), TOPIC_PARTITIONS, 1, int(TOPIC_RETENTION.total_seconds() * 1000)
        )
    except (KafkaException, ProducerError) as exc:
        raise AirflowException(f"Kafka at {bootstrap}: cannot create the topics: {exc}") from exc


@task(multiple_outputs=True)
def plan_journey(run_id: str | None = None) -> dict[str, str]:
    """Name the journey after the Airflow run and start it after the previous journeys' last event."""
    settings = get_settings()
    names = lake_names()
    s3 = S3Hook()
    listed = s3.get_conn().list_objects_v2(Bucket=names.lake_bucket, Prefix=REPORTS_PREFIX).get("Contents", [])
    newest = sorted(listed, key=lambda o: o["LastModified"], reverse=True)[:RECENT_REPORTS]
    previous = [json.loads(s3.read_key(o["Key"], names.lake_bucket)) for o in newest if o["Key"].endswith(".json")]
    journey = journey_id(run_id or "manual")
    local_dir = settings.data_dir / "reports"
    return {
        "journey_id": journey,
        "start_time": next_journey_start(previous).isoformat(),
        "report_path": str(report_path(local_dir, journey)),
        "report_key": f"{REPORTS_PREFIX}{journey}.json",
        "spark_summary_path": str(local_dir / f"{journey}.spark-summary.json"),
        "spark_metrics_path": str(local_dir / f"{journey}.spark-metrics.jsonl"),
    }


# A second attempt would send the journey again (its records would be duplicates or late): no retries.
@task.bash(retries=0)
def produce_journey(plan: dict[str, str], params: dict[str, Any] | None = None) -> str:
    """Drive the fleet into Kafka with ``python -m producers``; it writes the run report (local + S3)."""
    assert params is not None  # injected by Airflow
    return shlex.join(
        [
            sys.executable,
            "-m",
            "producers",
            "--vehicles", str(params["vehicles"]),
            "--seed", str(params["seed"]),
            "--speed-up", str(params["speed_up"]),
            "--duration", str(params["duration"]),
            "--bad-record-rate", str(params["bad_record_rate"]),
            "--start-time", plan["start_time"],
            "--run-id", plan["journey_id"],
            "--report", plan["report_path"],
            "--no-progress",
        ]
    )  # fmt: skip


def stream_to_lake(plan: Any) -> SparkSubmitOperator:
    """The streaming job, submitted with ``spark-submit``; it stops by itself once the journey is consumed.

    ``--drain-offsets`` names the producer's report: the job streams until that file exists and every topic
    is consumed up to the end offsets in it. The job resumes from its checkpoint, so a retry is safe.
    """
    spec = find_spec("spark_jobs.streaming_job")
    if spec is None or spec.origin is None:
        raise ImportError("spark_jobs.streaming_job is not installed with this project")
    return SparkSubmitOperator(
        task_id="stream_to_lake",
        application=spec.origin,
        name="smartcity-streaming-{{ run_id | replace(':', '-') | replace('+', '-') }}",
        conn_id="spark_default",
        application_args=[
            "--drain-offsets",
            plan["report_path"],
            "--drain-timeout",
            "{{ params.duration + 900 }} seconds",
            "--summary-file",
            plan["spark_summary_path"],
            "--metrics-file",
            plan["spark_metrics_path"],
        ],
        retries=1,
        retry_delay=timedelta(seconds=15),
        execution_timeout=timedelta(hours=2),
    )


@task
def load_run_report(plan: dict[str, str]) -> dict[str, Any]:
    """The producer's run report, from the lake (where a cloud deployment's workers also find it)."""
    names = lake_names()
    report = json.loads(S3Hook().read_key(plan["report_key"], names.lake_bucket))
    if report.get("status") != "completed":
        why = report.get("error") or report.get("stop_reason")
        raise AirflowFailException(f"The producer's run {report.get('run_id')} ended {report.get('status')}: {why}")
    return report


@task
def reconcile_with_report(
    report: dict[str, Any],
    row_counts_query: str,
    quarantine_counts_query: str,
    outlet_events: Any = None,
) -> dict[str, Any]:
    """Lake rows per stream == good records acknowledged; quarantine rows per reason == injected bad ones."""
    lake_rows = {row["stream"]: row["row_count"] for row in athena_rows(row_counts_query)}
    quarantine_rows = {(row["stream"], row["reason"]): row["row_count"] for row in athena_rows(quarantine_counts_query)}
    problems = reconcile(report, lake_rows, quarantine_rows)
    if problems:
        raise AirflowFailException(f"Reconciliation of journey {report['run_id']} failed:\n  " + "\n  ".join(problems))
    summary = {
        "journey": report["run_id"],
        "lake_rows": lake_rows,
        "quarantined_rows": sum(quarantine_rows.values()),
        "duplicates_dropped": sum(int(t.get("expected_duplicates", 0)) for t in report["topics"].values()),
    }
    if outlet_events is not None:  # the lake asset's event tells consumers what this journey added
        outlet_events[lake_asset(lake_names())].extra = summary
    return summary
