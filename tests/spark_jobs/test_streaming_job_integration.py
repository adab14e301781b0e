"""The streaming job end to end with real Kafka, SeaweedFS S3 and spark-submit (the command Airflow runs).

The lake is read back as a Glue crawler reads it: every Parquet object under the prefix, listed directly,
never through Spark's ``_spark_metadata``. Expected counts come from the test mix and the contracts' own
Python validator (tests/spark_jobs/spark_corpus.py), not from the job.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import uuid
from collections import Counter
from pathlib import Path

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import pytest

from smartcity.contracts.records import CONTRACTS
from smartcity.settings import Settings
from tests.spark_jobs.spark_corpus import BASE_TIME, Message, journey_mix, valid_record
from tests.spark_jobs.spark_helpers import (
    create_topics,
    lake_filesystem,
    produce,
    read_table,
    run_job,
    spark_submit_command,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _job_args(lake: str, prefix: str, checkpoints: Path, *extra: str) -> list[str]:
    return ["--lake", lake, "--topic-prefix", prefix, "--checkpoint-dir", str(checkpoints), *extra]


def _summary(result: subprocess.CompletedProcess[str]) -> dict:
    assert result.returncode == 0, (result.stdout[-3000:], result.stderr[-3000:])
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    summaries = [line for line in lines if line.get("event") == "summary"]
    assert summaries, result.stdout[-2000:]
    return summaries[-1]


@pytest.fixture(scope="module")
def bucket(stack: Settings) -> str:
    s3 = stack.boto3_client("s3")
    try:
        s3.create_bucket(Bucket=stack.lake_bucket)
    except s3.exceptions.BucketAlreadyOwnedByYou:
        pass
    except s3.exceptions.BucketAlreadyExists:
        pass
    return stack.lake_bucket


def test_known_mix_lands_exactly_once_with_every_reject_quarantined(
    stack: Settings, bucket: str, tmp_path: Path
) -> None:
    run = f"mix{uuid.uuid4().hex[:6]}"
    prefix, lake_prefix = f"{run}.", f"it/{run}"
    topics = {s: f"{prefix}{c.topic}" for s, c in CONTRACTS.items()}
    create_topics(stack.kafka_bootstrap, topics.values())
    messages = journey_mix(CONTRACTS, per_stream=60)
    late = [m for m in messages if m.outcome == "late"]
    # Phase 1: everything but the late records (the last "ahead" record moves the watermark forward).
    produce(stack.kafka_bootstrap, [m for m in messages if m.outcome != "late"], topics)
    first = _summary(run_job(*_job_args(f"s3a://{bucket}/{lake_prefix}", prefix, tmp_path / "chk", "--drain")))
    # Phase 2, a new run from the checkpoint: records older than the watermark, and a copy of a record the
    # first run kept (still within the watermark: a duplicate across runs).
    resent = [next(m for m in reversed(messages) if m.stream == s and m.outcome == "valid") for s in CONTRACTS]
    second_batch = late + [Message(m.stream, m.key, m.value, "duplicate") for m in resent]
    produce(stack.kafka_bootstrap, second_batch, topics)
    second = _summary(run_job(*_job_args(f"s3a://{bucket}/{lake_prefix}", prefix, tmp_path / "chk", "--drain")))

    everything = [m for m in messages if m.outcome != "late"] + second_batch
    for stream in CONTRACTS:
        mine = [m for m in everything if m.stream == stream]
        expected_rejects = Counter(m.outcome for m in mine if m.outcome not in ("valid", "duplicate"))
        data = read_table(stack, f"{lake_prefix}/data/{stream}")
        quarantine = read_table(stack, f"{lake_prefix}/quarantine/{stream}")
        expected_ids = {json.loads(m.value)["event_id"] for m in mine if m.outcome == "valid"}

        assert len(data) == len(expected_ids), stream
        assert {row["event_id"] for row in data} == expected_ids, stream
        assert Counter(row["reason"] for row in quarantine) == expected_rejects, stream
        assert all(
            (row["topic"] == topics[stream] and row["raw"] is not None) or row["reason"] == "malformed_json"
            for row in quarantine
        )
        # Partitions come from the event time in UTC.
        assert {row["date"] for row in data} == {BASE_TIME.date().isoformat()}
        # The job's own accounting adds up and agrees with what the lake holds.
        counts = [first["streams"][stream], second["streams"][stream]]
        assert sum(c["consumed"] for c in counts) == len(mine)
        assert sum(c["written"] for c in counts) == len(data)
        assert sum(c["quarantined"] for c in counts) == len(quarantine)
        assert sum(c["duplicates"] for c in counts) == sum(1 for m in mine if m.outcome == "duplicate")
        assert all(c["balanced"] for c in counts)
        assert counts[1]["late"] == expected_rejects["late"] == 3

    # Timestamps are TIMESTAMP_MICROS in UTC (not INT96), and nothing but Parquet is left under data/.
    fs = lake_filesystem(stack)
    listing = fs.get_file_info(pafs.FileSelector(f"{bucket}/{lake_prefix}", recursive=True))
    files = [f.path for f in listing if f.type == pafs.FileType.File]
    assert files and all(f.endswith(".snappy.parquet") for f in files), files
    assert not [f for f in files if "/_staging/" in f]
    with fs.open_input_file(next(f for f in files if "/data/vehicle_data/" in f)) as handle:
        schema = pq.read_schema(handle)
    assert schema.field("event_time").type == pa.timestamp("us", tz="UTC")


def _objects(stack: Settings, bucket: str, prefix: str) -> list[str]:
    """Parquet objects under ``prefix`` (not the directory markers Hadoop's S3A leaves)."""
    listing = stack.boto3_client("s3").list_objects_v2(Bucket=bucket, Prefix=prefix)
    return [o["Key"] for o in listing.get("Contents", []) if o["Key"].endswith(".parquet")]


def test_kill_9_mid_write_then_restart_leaves_every_record_exactly_once(
    stack: Settings, bucket: str, tmp_path: Path
) -> None:
    import random
    from datetime import timedelta

    run = f"crash{uuid.uuid4().hex[:6]}"
    prefix, lake_prefix, stream = f"{run}.", f"it/{run}", "gps_data"
    topic = f"{prefix}{stream}"
    create_topics(stack.kafka_bootstrap, [topic])
    rng = random.Random(11)
    records = [valid_record(CONTRACTS[stream], rng, BASE_TIME + timedelta(seconds=i)) for i in range(3000)]
    produce(
        stack.kafka_bootstrap,
        [Message(stream, r["vehicle_id"], json.dumps(r), "valid") for r in records],
        {stream: topic},
    )
    lake = f"s3a://{bucket}/{lake_prefix}"
    args = _job_args(
        lake,
        prefix,
        tmp_path / "chk",
        "--streams",
        stream,
        "--max-offsets-per-trigger",
        "400",
        "--trigger-interval",
        "1 second",
    )
    job = subprocess.Popen(
        spark_submit_command(*args),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        env=dict(os.environ),
    )
    try:
        # Wait until a batch has been committed to the lake and the next one is being written (staged).
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and job.poll() is None:
            data = _objects(stack, bucket, f"{lake_prefix}/data/")
            staged = _objects(stack, bucket, f"{lake_prefix}/_staging/")
            if data and staged:
                break
            time.sleep(0.1)  # polling pace for the S3 listing, not a synchronisation wait
        else:
            pytest.fail("the job never reached a second batch in flight")
        os.killpg(job.pid, signal.SIGKILL)  # driver JVM and Python driver, no chance to clean up
        job.wait(30)
    finally:
        if job.poll() is None:
            os.killpg(job.pid, signal.SIGKILL)
    landed_before_restart = len(read_table(stack, f"{lake_prefix}/data/{stream}"))
    assert 0 < landed_before_restart < len(records)

    # Restart from the checkpoint; the run report names no offsets, so the drain runs to the topic's end.
    report = tmp_path / "report.json"
    report.write_text(json.dumps({"run_id": run, "status": "completed"}))
    result = run_job(
        *_job_args(
            lake,
            prefix,
            tmp_path / "chk",
            "--streams",
            stream,
            "--drain-offsets",
            str(report),
            "--trigger-interval",
            "1 second",
            "--drain-timeout",
            "3 minutes",
        )
    )
    summary = _summary(result)
    assert summary["stopped_by"] == "drain"

    rows = read_table(stack, f"{lake_prefix}/data/{stream}")
    ids = Counter(row["event_id"] for row in rows)
    assert len(rows) == len(records)
    assert set(ids) == {r["event_id"] for r in records}
    assert max(ids.values()) == 1
    assert not _objects(stack, bucket, f"{lake_prefix}/_staging/")
