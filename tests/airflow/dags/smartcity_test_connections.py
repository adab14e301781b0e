"""Test DAG: the stack's aws_default and spark_default connections work inside Airflow tasks."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from airflow.providers.amazon.aws.hooks.s3 import S3Hook
from airflow.providers.apache.spark.operators.spark_submit import SparkSubmitOperator
from airflow.sdk import dag, task

SPARK_APP = str(Path(__file__).with_name("spark_count.py"))


@dag(
    dag_id="smartcity_test_connections",
    schedule=None,
    start_date=datetime(2025, 1, 1),
    catchup=False,
    tags=["smartcity", "test"],
    default_args={"owner": "smartcity-tests", "retries": 0},
)
def smartcity_test_connections() -> None:
    @task
    def list_buckets() -> list[str]:
        return sorted(b["Name"] for b in S3Hook().get_conn().list_buckets()["Buckets"])

    list_buckets()
    SparkSubmitOperator(task_id="spark_count", application=SPARK_APP, application_args=["1000"])


smartcity_test_connections()
