"""The smoke pipeline: Kafka → Spark (spark-submit) → Parquet on S3 → read back and count.

It proves the embedded stack's parts work together before the real journey
pipeline exists, and stays useful as a quick health check of a stack.
"""

from __future__ import annotations

import os
import subprocess
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from smartcity.kafka_client import security_config
from smartcity.settings import Settings
from smartcity.stack import secrets
from smartcity.stack.environment import stack_env, venv_bin
from smartcity.stack.errors import StackError

SMOKE_JOB = Path(__file__).with_name("smoke_job.py")


@dataclass
class SmokeResult:
    produced: int
    acknowledged: int
    landed: int
    parquet_files: int
    seconds: float
    topic: str
    checkpoint: Path

    @property
    def ok(self) -> bool:
        return self.acknowledged == self.produced == self.landed

    def summary(self) -> str:
        verdict = "OK" if self.ok else "MISMATCH"
        return (
            f"smoke {verdict}: produced {self.produced}, acknowledged {self.acknowledged}, "
            f"landed in the lake {self.landed} ({self.parquet_files} Parquet files) in {self.seconds:.1f} s"
        )


def produce(bootstrap: str, topic: str, count: int) -> int:
    """Create ``topic`` and produce ``count`` JSON messages; return how many the broker acknowledged."""
    from confluent_kafka import Producer
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({**security_config(), "bootstrap.servers": bootstrap})
    for future in admin.create_topics([NewTopic(topic, num_partitions=2, replication_factor=1)]).values():
        future.result(timeout=30)
    producer = Producer(
        {
            **security_config(),
            "bootstrap.servers": bootstrap,
            "enable.idempotence": True,
            "acks": "all",
            "linger.ms": 10,
        }
    )
    acked = 0

    def on_delivery(err, _msg) -> None:
        nonlocal acked
        if err is None:
            acked += 1

    for i in range(count):
        producer.produce(topic, key=f"vehicle-{i % 7}", value=f'{{"n": {i}}}', on_delivery=on_delivery)
        if i % 10_000 == 0:
            producer.poll(0)
    remaining = producer.flush(30)
    if remaining:
        raise StackError(f"{remaining} smoke messages were not delivered to Kafka at {bootstrap}")
    return acked


def spark_submit(args: list[str], env: dict[str, str], log: Path) -> None:
    cmd = [str(venv_bin() / "spark-submit"), *args]
    with log.open("w") as out:
        proc = subprocess.run(cmd, env=env, stdout=out, stderr=subprocess.STDOUT, check=False)
    if proc.returncode != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-25:])
        raise StackError(f"spark-submit failed (exit {proc.returncode}); last lines of {log}:\n{tail}")


def count_parquet_rows(settings: Settings, bucket: str, prefix: str) -> tuple[int, int]:
    """Rows and files under s3://bucket/prefix, listing every Parquet file as a crawler would."""
    import pyarrow.dataset as ds
    from pyarrow import fs

    s3 = fs.S3FileSystem(
        access_key=settings.access_key,
        secret_key=settings.secret_key,
        endpoint_override=settings.s3_endpoint,
        region=settings.aws_region,
        force_virtual_addressing=False,
    )
    dataset = ds.dataset(f"{bucket}/{prefix}", filesystem=s3, format="parquet")
    return dataset.count_rows(), len(dataset.files)


def run_smoke(settings: Settings, messages: int, progress: Callable[[str], None]) -> SmokeResult:
    stack_secrets = secrets.load(settings.secrets_file)
    if stack_secrets is None:
        raise StackError("The stack has never been started here: run `smartcity stack up` first.")
    env = {**os.environ, **stack_env(settings, stack_secrets)}
    env["PATH"] = f"{venv_bin()}{os.pathsep}{env.get('PATH', '')}"
    run = uuid.uuid4().hex[:8]
    topic = f"smoke-{run}"
    prefix = f"smoke/{run}"
    started = time.monotonic()
    progress(f"producing {messages} messages to Kafka topic {topic}")
    acked = produce(env["KAFKA_BOOTSTRAP_SERVERS"], topic, messages)
    progress("spark-submit: Kafka → Parquet on s3a")
    work = settings.data_dir / "smoke" / run
    work.mkdir(parents=True, exist_ok=True)
    spark_submit(
        [
            str(SMOKE_JOB),
            env["KAFKA_BOOTSTRAP_SERVERS"],
            topic,
            f"s3a://{settings.lake_bucket}/{prefix}",
            str(work / "checkpoint"),
        ],
        env,
        work / "spark-submit.log",
    )
    progress("reading the Parquet back from S3")
    landed, files = count_parquet_rows(settings, settings.lake_bucket, prefix)
    return SmokeResult(messages, acked, landed, files, time.monotonic() - started, topic, work / "checkpoint")
