"""The session stack's real services, used the way a data engineer's tools use them."""

from __future__ import annotations

import contextlib
import json
import os
import uuid
from datetime import UTC, datetime

import boto3
import psutil
import pytest
import requests
from botocore.config import Config
from botocore.exceptions import ClientError
from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, NewTopic
from typer.testing import CliRunner

from smartcity.cli import app
from smartcity.contracts.records import CONTRACTS
from smartcity.kafka_client import security_config
from smartcity.settings import Settings
from smartcity.stack.runner import Stack
from smartcity.stack.smoke import run_smoke
from smartcity.stack.streaming_status import checkpoint_progress, find_checkpoints, kafka_end_offsets, topic_lags


def test_status_reports_every_service_healthy(stack_runner: Stack) -> None:
    statuses = {s.name: s for s in stack_runner.status()}
    assert {"kafka", "seaweedfs", "standin"} <= set(statuses)
    for status in statuses.values():
        assert status.state == "RUNNING", status
        assert status.healthy, status
        assert status.pid and psutil.pid_exists(status.pid)


def test_env_is_what_settings_read(stack: Settings, stack_runner: Stack) -> None:
    env = stack_runner.env()
    for key in (
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_DEFAULT_REGION",
        "AWS_ENDPOINT_URL_S3",
        "AWS_ENDPOINT_URL_GLUE",
        "AWS_ENDPOINT_URL_ATHENA",
        "KAFKA_BOOTSTRAP_SERVERS",
        "SMARTCITY_IMAGES_BUCKET",
        "SMARTCITY_LAKE_BUCKET",
        "SMARTCITY_ATHENA_OUTPUT",
    ):
        assert env[key], key
    from_env = Settings(_env_file=None)
    assert from_env.access_key == env["AWS_ACCESS_KEY_ID"]
    assert from_env.s3_endpoint == env["AWS_ENDPOINT_URL_S3"]
    assert from_env.kafka_bootstrap == env["KAFKA_BOOTSTRAP_SERVERS"]
    assert str(stack.kafka_port) in env["KAFKA_BOOTSTRAP_SERVERS"]


def test_up_again_is_idempotent(stack_runner: Stack) -> None:
    before = {s.name: s.pid for s in stack_runner.status()}
    timings = stack_runner.up()
    after = {s.name: s.pid for s in stack_runner.status()}
    assert before == after
    assert set(timings) == set(before)


def test_kafka_round_trip_counts_every_message(stack: Settings) -> None:
    topic = f"roundtrip-{uuid.uuid4().hex[:8]}"
    admin = AdminClient({**security_config(), "bootstrap.servers": stack.kafka_bootstrap})
    admin.create_topics([NewTopic(topic, num_partitions=3, replication_factor=1)])[topic].result(30)
    producer = Producer(
        {**security_config(), "bootstrap.servers": stack.kafka_bootstrap, "enable.idempotence": True, "acks": "all"}
    )
    delivered: list[str] = []
    sent = 5000
    for i in range(sent):
        producer.produce(
            topic,
            key=f"v{i % 10}",
            value=str(i),
            on_delivery=lambda err, msg: err is None and delivered.append(msg.value().decode()),
        )
        producer.poll(0)
    assert producer.flush(30) == 0
    assert len(delivered) == sent

    consumer = Consumer(
        {
            **security_config(),
            "bootstrap.servers": stack.kafka_bootstrap,
            "group.id": f"test-{topic}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([topic])
    seen: set[str] = set()
    try:
        for _ in range(60):
            for message in consumer.consume(num_messages=10_000, timeout=1):
                assert message.error() is None
                seen.add(message.value().decode())
            if len(seen) >= sent:
                break
    finally:
        consumer.close()
    assert seen == {str(i) for i in range(sent)}


def _s3(stack: Settings, **overrides: object):
    params = {
        "endpoint_url": stack.s3_endpoint,
        "region_name": stack.aws_region,
        "aws_access_key_id": stack.access_key,
        "aws_secret_access_key": stack.secret_key,
        "config": Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
    }
    params.update(overrides)
    return boto3.client("s3", **params)


def test_buckets_exist_and_objects_round_trip(stack: Settings) -> None:
    s3 = _s3(stack)
    names = {b["Name"] for b in s3.list_buckets()["Buckets"]}
    assert {stack.images_bucket, stack.lake_bucket} <= names
    body = os.urandom(256 * 1024)
    s3.put_object(Bucket=stack.images_bucket, Key="tests/blob.bin", Body=body)
    assert s3.get_object(Bucket=stack.images_bucket, Key="tests/blob.bin")["Body"].read() == body


@pytest.mark.parametrize(
    ("overrides", "expected_code"),
    [
        ({"aws_secret_access_key": "not-the-secret-key-at-all-000000000000000"}, "SignatureDoesNotMatch"),
        ({"aws_access_key_id": "SCUNKNOWNACCESSKEY00"}, "InvalidAccessKeyId"),
    ],
)
def test_s3_refuses_wrong_credentials(stack: Settings, overrides: dict, expected_code: str) -> None:
    with pytest.raises(ClientError) as caught:
        _s3(stack, **overrides).list_objects_v2(Bucket=stack.lake_bucket)
    assert caught.value.response["Error"]["Code"] == expected_code


def test_s3_refuses_unsigned_requests(stack: Settings) -> None:
    response = requests.get(f"{stack.s3_endpoint}/{stack.lake_bucket}", timeout=5)
    assert response.status_code == 403


def test_filer_port_does_not_serve_objects_without_credentials(stack: Settings) -> None:
    s3 = _s3(stack)
    s3.put_object(Bucket=stack.lake_bucket, Key="tests/secret.txt", Body=b"lake data")
    response = requests.get(
        f"http://127.0.0.1:{stack.seaweed_filer_port}/buckets/{stack.lake_bucket}/tests/secret.txt", timeout=5
    )
    assert response.status_code in {401, 403}
    assert b"lake data" not in response.content


def test_every_listening_socket_is_on_loopback(stack_runner: Stack) -> None:
    pids = [s.pid for s in stack_runner.status() if s.pid]
    processes = [psutil.Process(pid) for pid in pids]
    processes += [child for p in processes for child in p.children(recursive=True)]
    listening = []
    for proc in processes:
        with contextlib.suppress(psutil.NoSuchProcess):  # short-lived children (task runners) come and go
            listening += [conn for conn in proc.net_connections(kind="inet") if conn.status == psutil.CONN_LISTEN]
    assert listening, "expected the stack's servers to be listening"
    assert {conn.laddr.ip for conn in listening} <= {"127.0.0.1", "::ffff:127.0.0.1"}


def test_spark_submit_streams_kafka_to_parquet_on_s3(stack: Settings) -> None:
    produced = 3000
    result = run_smoke(stack, produced, lambda _: None)
    assert result.acknowledged == produced
    assert result.landed == produced
    assert result.parquet_files >= 1
    # `stack status` reads the job's progress from its checkpoint: everything produced is written, no lag.
    assert result.checkpoint in find_checkpoints(stack.data_dir / "smoke")
    progress = checkpoint_progress(result.checkpoint)
    assert progress is not None
    end = kafka_end_offsets({**security_config(), "bootstrap.servers": stack.kafka_bootstrap}, [result.topic])
    (lag,) = topic_lags([progress], end, [result.topic])
    assert lag.committed == lag.end == produced
    assert lag.lag == 0
    assert lag.last_batch_at is not None
    assert abs((datetime.now(UTC) - lag.last_batch_at).total_seconds()) < result.seconds + 60


def test_stack_status_json_lists_services_and_streaming_progress(stack: Settings) -> None:
    shown = CliRunner().invoke(app, ["stack", "status", "--json"])
    assert shown.exit_code == 0, shown.output
    document = json.loads(shown.output)
    assert {s["name"] for s in document["services"]} >= {"kafka", "seaweedfs", "standin"}
    # Before the streaming job ever ran there is nothing to show; afterwards one row per contract topic.
    assert [row["topic"] for row in document["streaming"]] in ([], [c.topic for c in CONTRACTS.values()])
