"""Real-service helpers for the streaming-job tests: Kafka topics and producing, spark-submit, reading the lake."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path

import pyarrow.dataset as ds
import pyarrow.fs as pafs
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

from smartcity.kafka_client import security_config
from smartcity.settings import PROJECT_ROOT, Settings
from tests.spark_jobs.spark_corpus import Message

JOB = PROJECT_ROOT / "spark_jobs" / "streaming_job.py"


def create_topics(bootstrap: str, topics: Iterable[str], partitions: int = 2) -> None:
    admin = AdminClient({**security_config(), "bootstrap.servers": bootstrap})
    futures = admin.create_topics([NewTopic(t, num_partitions=partitions, replication_factor=1) for t in topics])
    for future in futures.values():
        future.result(timeout=30)


def produce(bootstrap: str, messages: Sequence[Message], topic_of: dict[str, str]) -> None:
    """Produce every message (idempotent producer) and fail unless the broker acknowledged all of them."""
    producer = Producer(
        {**security_config(), "bootstrap.servers": bootstrap, "enable.idempotence": True, "linger.ms": 5}
    )
    errors: list[str] = []

    def delivered(error, _message) -> None:
        if error is not None:
            errors.append(str(error))

    for message in messages:
        producer.produce(topic_of[message.stream], key=message.key, value=message.value, on_delivery=delivered)
        producer.poll(0)
    assert producer.flush(30) == 0, "messages still in flight after 30 s"
    assert not errors, errors[:3]


def spark_submit_command(*args: str) -> list[str]:
    """The command Airflow's SparkSubmitOperator runs: spark-submit on PATH, the job file, its flags."""
    return ["spark-submit", str(JOB), *args]


def run_job(*args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        spark_submit_command(*args), capture_output=True, text=True, timeout=timeout, env=dict(os.environ), check=False
    )


def lake_filesystem(settings: Settings) -> pafs.S3FileSystem:
    return pafs.S3FileSystem(
        access_key=settings.access_key,
        secret_key=settings.secret_key,
        endpoint_override=settings.s3_endpoint,
        scheme="http",
        region=settings.aws_region,
        force_virtual_addressing=False,
    )


def read_table(settings: Settings, prefix: str) -> list[dict]:
    """Every row of every Parquet file under ``<lake bucket>/<prefix>``, listed as a crawler lists them."""
    fs = lake_filesystem(settings)
    selector = pafs.FileSelector(f"{settings.lake_bucket}/{prefix}", recursive=True, allow_not_found=True)
    files = [f.path for f in fs.get_file_info(selector) if f.type == pafs.FileType.File]
    if not files:
        return []
    assert all(f.endswith(".parquet") for f in files), [f for f in files if not f.endswith(".parquet")]
    dataset = ds.dataset(
        files,
        filesystem=fs,
        format="parquet",
        partitioning="hive",
        partition_base_dir=f"{settings.lake_bucket}/{prefix}",
    )
    return dataset.to_table().to_pylist()


def metrics_lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def python_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = f"{os.path.dirname(sys.executable)}{os.pathsep}{env.get('PATH', '')}"
    return env
