"""Streaming job figures on the local stack: Kafka -> Parquet throughput, and end-to-end latency.

1. Throughput: pre-load N events (valid records of all five streams) into fresh topics, then run the job
   with ``--drain`` and measure events/s from the first query start to the last batch end.
2. Latency: run the job with a processing-time trigger, produce at a steady rate (default 1,000 events/s)
   and, for every event, take the time from production to the moment its Parquet object is listable on
   S3 (polled every 0.25 s); report p50/p95.

Run against a started stack (``eval "$(smartcity stack env)"`` first)::

    .venv/bin/python bench/streaming_throughput.py --events 1000000 --rate 1000 --seconds 60

Figures are printed, never asserted. Targets: >= 100,000 events/s; p95 <= 10 s.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow.parquet as pq
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

from smartcity.contracts.records import CONTRACTS
from smartcity.kafka_client import security_config
from smartcity.settings import PROJECT_ROOT, Settings
from tests.spark_jobs.spark_corpus import valid_record

JOB = PROJECT_ROOT / "spark_jobs" / "streaming_job.py"


def producer(bootstrap: str) -> Producer:
    return Producer(
        {
            **security_config(),
            "bootstrap.servers": bootstrap,
            "enable.idempotence": True,
            "linger.ms": 20,
            "batch.size": 1_000_000,
            "compression.type": "lz4",
            "queue.buffering.max.messages": 500_000,
        }
    )


def templates(count: int) -> dict[str, list[dict]]:
    rng = random.Random(5)
    now = datetime.now(UTC)
    return {s: [valid_record(c, rng, now) for _ in range(count)] for s, c in CONTRACTS.items()}


def encode(record: dict, moment: datetime) -> str:
    record = {**record, "event_id": str(uuid.uuid4()), "event_time": moment.isoformat(timespec="milliseconds")}
    return json.dumps(record)


def create_topics(bootstrap: str, prefix: str, partitions: int) -> dict[str, str]:
    topics = {s: f"{prefix}{c.topic}" for s, c in CONTRACTS.items()}
    admin = AdminClient({**security_config(), "bootstrap.servers": bootstrap})
    for future in admin.create_topics([NewTopic(t, partitions, 1) for t in topics.values()]).values():
        future.result(30)
    return topics


def produce_all(bootstrap: str, topics: dict[str, str], events: int) -> float:
    """Pre-load ``events`` records spread over the streams; return the seconds it took."""
    kafka = producer(bootstrap)
    pool = templates(50)
    streams = list(topics)
    start = datetime.now(UTC) - timedelta(hours=1)
    began = time.monotonic()
    for i in range(events):
        stream = streams[i % len(streams)]
        value = encode(pool[stream][i % 50], start + timedelta(milliseconds=i))
        while True:
            try:
                kafka.produce(topics[stream], value=value)
                break
            except BufferError:
                kafka.poll(0.05)
        if i % 10_000 == 0:
            kafka.poll(0)
    kafka.flush(120)
    return time.monotonic() - began


def job_command(lake: str, prefix: str, checkpoints: Path, metrics: Path, *extra: str) -> list[str]:
    return [
        "spark-submit",
        str(JOB),
        "--lake",
        lake,
        "--topic-prefix",
        prefix,
        "--checkpoint-dir",
        str(checkpoints),
        "--metrics-file",
        str(metrics),
        *extra,
    ]


def read_metrics(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def throughput(settings: Settings, events: int, max_offsets: int, work: Path) -> None:
    prefix = f"bench{uuid.uuid4().hex[:6]}."
    topics = create_topics(settings.kafka_bootstrap, prefix, 3)
    seconds = produce_all(settings.kafka_bootstrap, topics, events)
    print(f"pre-loaded {events:,} events in {seconds:.1f} s ({events / seconds:,.0f} events/s)")
    metrics = work / "throughput.jsonl"
    lake = f"s3a://{settings.lake_bucket}/bench/{prefix.rstrip('.')}"
    command = job_command(
        lake, prefix, work / "chk-throughput", metrics, "--drain", "--max-offsets-per-trigger", str(max_offsets)
    )
    began = time.time()
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    wall = time.time() - began
    if result.returncode != 0:
        sys.exit(f"job failed ({result.returncode}): {result.stdout[-2000:]}")
    lines = read_metrics(metrics)
    batches = [m for m in lines if m["event"] == "batch"]
    first_start = min(m["ts"] for m in lines if m["event"] == "query_started")
    last_end = max(m["ts"] for m in batches)
    processed = sum(m["input_rows"] for m in batches)
    summary = next(m for m in lines if m["event"] == "summary")
    print(
        f"throughput: {processed:,} events in {last_end - first_start:.1f} s from first query start to last batch "
        f"end = {processed / (last_end - first_start):,.0f} events/s (spark-submit wall {wall:.1f} s)"
    )
    later = [m for m in batches if m["batch_id"] > 0]
    if later:
        # Each stream's first batch also pays the JVM's warm-up (JIT, code generation of the validation and
        # dedupe plans); later batches show the rate the job sustains once warm.
        began_later = min(m["ts"] - m["batch_duration_ms"] / 1000 for m in later)
        rows_later = sum(m["input_rows"] for m in later)
        span = max(m["ts"] for m in later) - began_later
        print(
            f"sustained (batches after each stream's first): {rows_later:,} events in {span:.1f} s = "
            f"{rows_later / span:,.0f} events/s"
        )
    for m in batches:
        print(
            f"  {m['stream']:<15} batch {m['batch_id']}: {m['input_rows']:,} rows in "
            f"{m['batch_duration_ms'] / 1000:.1f} s"
            f" ({m['processed_rows_per_second']:,.0f} rows/s), phases {m.get('phases')}"
        )
    for stream, totals in summary["streams"].items():
        print(
            f"  {stream:<15} files {totals['files']}, avg file {totals['avg_file_bytes'] / 1e6:.1f} MB, "
            f"balanced={totals['balanced']}"
        )


def latency(settings: Settings, rate: int, seconds: int, trigger: str, work: Path) -> None:
    prefix = f"lat{uuid.uuid4().hex[:6]}."
    topics = create_topics(settings.kafka_bootstrap, prefix, 1)
    lake_prefix = f"bench/{prefix.rstrip('.')}"
    metrics = work / "latency.jsonl"
    command = job_command(
        f"s3a://{settings.lake_bucket}/{lake_prefix}",
        prefix,
        work / "chk-latency",
        metrics,
        "--trigger-interval",
        trigger,
    )
    job = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        while not metrics.exists() or sum(m["event"] == "query_started" for m in read_metrics(metrics)) < 5:
            if job.poll() is not None:
                sys.exit("the job ended before its queries started")
            time.sleep(0.5)
        produced: dict[str, float] = {}
        stop = threading.Event()
        visible: dict[str, float] = {}
        watcher = threading.Thread(target=_watch, args=(settings, lake_prefix, visible, stop), daemon=True)
        watcher.start()
        kafka = producer(settings.kafka_bootstrap)
        pool = templates(50)
        streams = list(topics)
        warm_up(settings, kafka, topics, pool, lake_prefix, visible, job)
        began = time.monotonic()
        for i in range(rate * seconds):
            due = began + i / rate
            while (delay := due - time.monotonic()) > 0:
                time.sleep(min(delay, 0.01))
            stream = streams[i % len(streams)]
            value = encode(pool[stream][i % 50], datetime.now(UTC))
            produced[json.loads(value)["event_id"]] = time.time()
            kafka.produce(topics[stream], value=value)
            kafka.poll(0)
        kafka.flush(30)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and len(_landed(settings, lake_prefix, visible)) < len(produced):
            time.sleep(1)
        stop.set()
        watcher.join(5)
        landed = _landed(settings, lake_prefix, visible)
        latencies = sorted(landed[e] - t for e, t in produced.items() if e in landed)
        print(
            f"latency at {rate:,} events/s for {seconds} s, trigger {trigger}: {len(latencies):,}/{len(produced):,} "
            f"events visible; p50 {statistics.median(latencies):.2f} s, "
            f"p95 {latencies[int(0.95 * (len(latencies) - 1))]:.2f} s, max {latencies[-1]:.2f} s"
        )
        batches = [m for m in read_metrics(metrics) if m["event"] == "batch" and m.get("files")]
        if batches:
            sizes = [m["bytes"] / m["files"] for m in batches]
            print(f"  steady-state data files: {len(sizes)}, avg {statistics.mean(sizes) / 1e3:.0f} kB")
            durations = [m["batch_duration_ms"] / 1000 for m in batches]
            print(
                f"  batch duration per stream: median {statistics.median(durations):.1f} s, max {max(durations):.1f} s"
            )
            phases: dict[str, list[float]] = {}
            for m in batches:
                for phase, took in (m.get("phases") or {}).items():
                    phases.setdefault(phase, []).append(took)
            print(
                "  median seconds per phase: " + ", ".join(f"{k} {statistics.median(v):.1f}" for k, v in phases.items())
            )
    finally:
        # SIGTERM to the Python driver (its pid is in the job_started line): running batches finish, then stop.
        lines = read_metrics(metrics) if metrics.exists() else []
        started = [m for m in lines if m["event"] == "job_started"]
        if job.poll() is None and started:
            os.kill(started[0]["pid"], signal.SIGTERM)
        try:
            job.wait(180)
        except subprocess.TimeoutExpired:
            os.killpg(job.pid, signal.SIGKILL)
        summary = [m for m in read_metrics(metrics) if m["event"] == "summary"] if metrics.exists() else []
        if summary:
            print(
                f"  job ended: {summary[-1]['status']}, stopped by {summary[-1]['stopped_by']}, "
                f"error {summary[-1]['error']}, balanced={summary[-1]['balanced']}"
            )


def warm_up(
    settings: Settings,
    kafka: Producer,
    topics: dict[str, str],
    pool: dict[str, list[dict]],
    lake_prefix: str,
    visible: dict[str, float],
    job: subprocess.Popen,
    timeout_s: float = 600,
) -> None:
    """Send a few events per stream and wait until every stream has written a data object.

    A stream's first batch pays the JVM's warm-up (JIT, code generation of its validation and dedupe plans):
    tens of seconds on this machine, once per job start. The latency target is for a steady stream, so the
    measured events are produced only after that; the warm-up time is printed on its own.
    """
    began = time.monotonic()
    for stream, topic in topics.items():
        for i in range(20):
            kafka.produce(topic, value=encode(pool[stream][i], datetime.now(UTC)))
    kafka.flush(30)
    tables = {f"{lake_prefix}/data/{stream}/" for stream in topics}
    while not all(any(key.startswith(t) for key in list(visible)) for t in tables):
        if job.poll() is not None:
            sys.exit("the job ended during the warm-up")
        if time.monotonic() - began > timeout_s:
            sys.exit(f"the job did not write every stream within {timeout_s:.0f} s of warm-up")
        time.sleep(0.25)
    print(f"warm-up: every stream's first batch visible after {time.monotonic() - began:.1f} s")


_OBJECT_SEEN: dict[str, float] = {}


def _watch(settings: Settings, prefix: str, visible: dict[str, float], stop: threading.Event) -> None:
    """Record when each data object first appears in a listing (as a crawler/Athena would see it)."""
    s3 = settings.boto3_client("s3")
    while not stop.is_set():
        now = time.time()
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=settings.lake_bucket, Prefix=f"{prefix}/data/"):
            for obj in page.get("Contents", []):
                if obj["Key"].endswith(".parquet"):  # not S3A's directory markers
                    visible.setdefault(obj["Key"], now)
        time.sleep(0.25)


def _landed(settings: Settings, prefix: str, visible: dict[str, float]) -> dict[str, float]:
    """event_id -> time its object became visible, for every object seen so far."""
    import pyarrow.fs as pafs

    fs = pafs.S3FileSystem(
        access_key=settings.access_key,
        secret_key=settings.secret_key,
        endpoint_override=settings.s3_endpoint,
        scheme="http",
        region=settings.aws_region,
    )
    landed: dict[str, float] = {}
    for key, seen in list(visible.items()):
        if key not in _OBJECT_SEEN:
            _OBJECT_SEEN[key] = seen
        with fs.open_input_file(f"{settings.lake_bucket}/{key}") as handle:
            for event_id in pq.read_table(handle, columns=["event_id"]).column("event_id").to_pylist():
                landed[event_id] = _OBJECT_SEEN[key]
    return landed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000, help="events to pre-load (default 1,000,000)")
    parser.add_argument("--max-offsets-per-trigger", type=int, default=2_000_000)
    parser.add_argument("--rate", type=int, default=1000, help="events/s for the latency run (default 1000)")
    parser.add_argument("--seconds", type=int, default=60, help="length of the latency run (default 60)")
    parser.add_argument("--trigger", default="2 seconds", help="trigger interval of the latency run")
    parser.add_argument("--skip-throughput", action="store_true")
    parser.add_argument("--skip-latency", action="store_true")
    args = parser.parse_args()
    settings = Settings()
    conf = Path(os.environ.get("SPARK_CONF_DIR", settings.spark_conf_dir)) / "spark-defaults.conf"
    print("Spark settings (spark-defaults.conf, jars omitted):")
    for line in conf.read_text().splitlines() if conf.exists() else []:
        if line.strip() and not line.startswith(("#", "spark.jars")):
            print(f"  {line}")
    from spark_jobs.runner import DEFAULT_CONF, REQUIRED_CONF

    for key, value in {**DEFAULT_CONF, **REQUIRED_CONF}.items():
        print(f"  {key} {value}  (job default)")
    with tempfile.TemporaryDirectory(prefix="smartcity-bench-") as tmp:
        work = Path(tmp)
        if not args.skip_throughput:
            throughput(settings, args.events, args.max_offsets_per_trigger, work)
        if not args.skip_latency:
            latency(settings, args.rate, args.seconds, args.trigger, work)


if __name__ == "__main__":
    main()
