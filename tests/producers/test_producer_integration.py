"""The producer against the real stack: Kafka round trip == report, snapshots in S3, SIGTERM loses nothing."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter, defaultdict
from datetime import UTC, datetime

import orjson
import pytest
from confluent_kafka import Consumer, TopicPartition
from PIL import Image

from producers.badrecords import INJECTED_HEADER, BadKind
from producers.report import RunReport, report_key
from producers.run import ProducerOptions, ProducerRun
from producers.simulator import SimConfig
from producers.snapshots import split_s3_uri
from smartcity.contracts.records import CONTRACTS
from smartcity.kafka_client import security_config

pytestmark = pytest.mark.integration

START = datetime(2025, 3, 1, 6, 0, tzinfo=UTC)


def _consumer(bootstrap: str) -> Consumer:
    return Consumer(
        {
            **security_config(),
            "bootstrap.servers": bootstrap,
            "group.id": f"test-{uuid.uuid4().hex}",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
        }
    )


def end_offsets(bootstrap: str, topics: list[str]) -> dict[tuple[str, int], int]:
    """High watermark of every partition of ``topics`` (0 for topics that do not exist yet)."""
    consumer = _consumer(bootstrap)
    try:
        metadata = consumer.list_topics(timeout=10)
        offsets = {}
        for topic in topics:
            partitions = metadata.topics[topic].partitions if topic in metadata.topics else {}
            for partition in partitions:
                offsets[(topic, partition)] = consumer.get_watermark_offsets(
                    TopicPartition(topic, partition), timeout=10
                )[1]
        return offsets
    finally:
        consumer.close()


def consume_between(bootstrap: str, before: dict, after: dict) -> list:
    """Every message written between two end_offsets() snapshots."""
    wanted = {key: (before.get(key, 0), end) for key, end in after.items() if end > before.get(key, 0)}
    if not wanted:
        return []
    consumer = _consumer(bootstrap)
    consumer.assign([TopicPartition(topic, partition, start) for (topic, partition), (start, _end) in wanted.items()])
    messages = []
    remaining = sum(end - start for start, end in wanted.values())
    deadline = time.monotonic() + 60
    try:
        while remaining and time.monotonic() < deadline:
            for message in consumer.consume(num_messages=10_000, timeout=1):
                assert message.error() is None, message.error()
                _start, end = wanted[(message.topic(), message.partition())]
                if message.offset() < end:
                    messages.append(message)
                    remaining -= 1
        assert remaining == 0, f"{remaining} messages not read back"
        return messages
    finally:
        consumer.close()


def injected_kind(message) -> BadKind | None:
    for name, value in message.headers() or ():
        if name == INJECTED_HEADER:
            return BadKind(value.decode())
    return None


def test_round_trip_matches_the_report_and_snapshots_exist(stack, tmp_path):
    topics = list(CONTRACTS)
    bootstrap = stack.kafka_bootstrap
    sim = SimConfig(vehicles=2, seed=21, start_time=START, emergency_rate_per_hour=1.0)
    options = ProducerOptions(
        run_id=f"it-{uuid.uuid4().hex[:8]}",
        bootstrap_servers=bootstrap,
        bad_record_rate=0.05,
        lake_bucket=stack.lake_bucket,
        report_path=tmp_path / "report.json",
    )
    before = end_offsets(bootstrap, topics)
    report = ProducerRun(sim, options, s3_factory=lambda: stack.boto3_client("s3")).execute()
    after = end_offsets(bootstrap, topics)
    messages = consume_between(bootstrap, before, after)

    assert report.status == "completed" and report.stop_reason == "arrived"
    good: dict[str, int] = Counter()
    injected: dict[str, Counter] = defaultdict(Counter)
    last_time: dict[tuple[str, bytes], str] = {}
    traffic = []
    for message in messages:
        topic, kind = message.topic(), injected_kind(message)
        if kind is not None:
            injected[topic][kind] += 1
            continue
        good[topic] += 1
        record = orjson.loads(message.value())
        assert CONTRACTS[topic].validate(record) == []
        assert message.key() == record["vehicle_id"].encode()
        # per vehicle, each topic keeps the journey's order
        previous = last_time.get((topic, message.key()))
        assert previous is None or previous <= record["event_time"]
        last_time[(topic, message.key())] = record["event_time"]
        if topic == "traffic_data":
            traffic.append(record)

    for topic in topics:
        counts = report.topics[topic]
        assert counts.failed == 0
        assert counts.acknowledged == counts.produced
        assert good[topic] == counts.good_acknowledged, topic
        assert dict(injected[topic]) == {k: v for k, v in counts.injected_acknowledged.items() if v}, topic
        assert good[topic] + sum(injected[topic].values()) == counts.acknowledged
    assert sum(sum(c.values()) for c in injected.values()) > 50  # the mix was actually injected
    assert report.topics["traffic_data"].good_acknowledged == len(traffic) > 0

    # every snapshot an event points to exists, and is a JPEG
    s3 = stack.boto3_client("s3")
    for record in traffic:
        bucket, key = split_s3_uri(record["snapshot_uri"])
        head = s3.head_object(Bucket=bucket, Key=key)
        assert head["ContentType"] == "image/jpeg" and head["ContentLength"] > 1_000
    bucket, key = split_s3_uri(traffic[0]["snapshot_uri"])
    image = Image.open(io.BytesIO(s3.get_object(Bucket=bucket, Key=key)["Body"].read()))
    assert image.format == "JPEG" and image.size == (320, 180)
    assert report.snapshots.uploaded == len(traffic)

    # the report is in the lake bucket and identical to the local copy
    stored = s3.get_object(Bucket=stack.lake_bucket, Key=report_key(options.run_id))["Body"].read()
    assert json.loads(stored) == json.loads((tmp_path / "report.json").read_text())
    assert report.report_uri == f"s3://{stack.lake_bucket}/reports/{options.run_id}.json"


def test_sigterm_mid_run_flushes_and_loses_nothing_acknowledged(stack, tmp_path):
    topics = ["vehicle_data", "gps_data"]
    bootstrap = stack.kafka_bootstrap
    report_path = tmp_path / "report.json"
    before = end_offsets(bootstrap, topics)
    already = sum(before.values())
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "producers",
            "--vehicles",
            "20",
            "--seed",
            "5",
            "--start-time",
            "2025-03-01T06:00:00Z",
            "--speed-up",
            "300",
            "--streams",
            "vehicle_data,gps_data",
            "--no-report-upload",
            "--report",
            str(report_path),
            "--no-progress",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=os.environ.copy(),
    )
    try:
        deadline = time.monotonic() + 60
        while sum(end_offsets(bootstrap, topics).values()) - already < 300:
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "producer did not get going"
            time.sleep(0.2)
        process.send_signal(signal.SIGTERM)
        _out, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, err
    assert "Traceback" not in err
    report = RunReport.model_validate_json(report_path.read_text())
    assert report.status == "interrupted" and report.stop_reason == "signal SIGTERM"

    messages = consume_between(bootstrap, before, end_offsets(bootstrap, topics))
    per_topic = Counter(message.topic() for message in messages)
    for topic in topics:
        counts = report.topics[topic]
        assert counts.failed == 0
        assert per_topic[topic] == counts.acknowledged == counts.produced > 0
    # it stopped mid-journey: far fewer than the full journey's events
    assert report.totals.acknowledged < 20 * 2 * 400
