"""Producer throughput and memory: simulate + serialize + produce to the local broker, acknowledged.

Prints figures; asserts nothing. Target (issue 4): >= 200,000 events/s on one core, peak RSS <= 300 MB for a
10-million-event run. Compared in the same run with naive one-record-at-a-time loops.

    python bench/producer_throughput.py                      # against the stack in `smartcity stack env`
    python bench/producer_throughput.py --own-stack          # start a throwaway stack (free ports, temp dir)
    python bench/producer_throughput.py --memory-events 10000000 --profile

What is measured:
* pipeline: ``ProducerRun`` (the real code path of ``python -m producers``) for --events events of the
  four non-camera streams, pinned to ONE CPU (the main thread and librdkafka's threads share it); the clock
  stops when every message is acknowledged (acks=all, idempotent). Also reported unpinned.
* naive: the tutorial loop per record: ``json.dumps`` + ``produce`` + ``flush()`` (waits for each ack);
  and "per-record produce": ``json.dumps`` + ``produce`` with a delivery callback, one flush at the end.
* memory: a separate process runs --memory-events events and reports its peak RSS and RSS over time.
* snapshots: camera JPEG render + S3 upload rate (they gate only the traffic stream, ~4 % of events).
Bench topics are prefixed ``bench-<id>-`` and deleted afterwards.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import io
import json
import os
import pstats
import resource
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_ROOT))

from confluent_kafka import Producer  # noqa: E402
from confluent_kafka.admin import AdminClient  # noqa: E402

from producers.run import ProducerOptions, ProducerRun  # noqa: E402
from producers.simulator import SimConfig, simulate  # noqa: E402
from smartcity.kafka_client import security_config  # noqa: E402
from smartcity.settings import Settings  # noqa: E402

STREAMS = ("vehicle_data", "gps_data", "weather_data", "emergency_data")
START = datetime(2025, 3, 1, 6, 0, tzinfo=UTC)


def sim_config(events: int) -> SimConfig:
    # about 1,100 events per vehicle over the four streams: enough vehicles that the journey outlasts the run
    return SimConfig(
        vehicles=max(10, events // 900),
        seed=1,
        start_time=START,
        departure_interval_s=10,
        streams=STREAMS,
    )


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@contextlib.contextmanager
def one_cpu() -> Iterator[int]:
    """Pin this process (all its threads, including librdkafka's) to a single CPU."""
    before = os.sched_getaffinity(0)
    cpu = max(before)
    os.sched_setaffinity(0, {cpu})
    try:
        yield cpu
    finally:
        os.sched_setaffinity(0, before)


def run_pipeline(bootstrap: str, events: int, prefix: str) -> dict:
    options = ProducerOptions(
        bootstrap_servers=bootstrap,
        topic_prefix=prefix,
        max_events=events,
        lake_bucket="unused-bench",
        upload_report=False,
    )
    run = ProducerRun(sim_config(events), options)
    wall, cpu, thread = time.perf_counter(), time.process_time(), time.thread_time()
    report = run.execute()
    wall, cpu, thread = time.perf_counter() - wall, time.process_time() - cpu, time.thread_time() - thread
    totals = report.totals
    assert totals.acknowledged == totals.produced == events, totals
    return {
        "events": events,
        "wall_s": wall,
        "events_per_s": events / wall,
        "mb_per_s": totals.bytes / wall / 1e6,
        "bytes_per_event": totals.bytes / events,
        "process_cpu_s": cpu,
        "main_thread_cpu_s": thread,
        "events_per_main_thread_cpu_s": events / thread,
    }


def records(events: int) -> Iterator[tuple[str, dict]]:
    for count, (_ms, stream, record) in enumerate(simulate(sim_config(events)), start=1):
        yield stream, record
        if count == events:
            return


def run_naive_flush_each(bootstrap: str, events: int, prefix: str) -> dict:
    """The tutorial forks: json.dumps, produce, flush() after every message."""
    producer = Producer(
        {**security_config(), "bootstrap.servers": bootstrap, "acks": "all", "enable.idempotence": True}
    )
    failures = []
    start = time.perf_counter()
    for stream, record in records(events):
        producer.produce(
            prefix + stream,
            json.dumps(record).encode(),
            record["vehicle_id"],
            on_delivery=lambda err, _msg: err and failures.append(err),
        )
        producer.flush()
    wall = time.perf_counter() - start
    assert not failures, failures[:3]
    return {"events": events, "wall_s": wall, "events_per_s": events / wall}


def run_per_record_produce(bootstrap: str, events: int, prefix: str) -> dict:
    """One produce() per record with a Python delivery callback, stdlib json; one flush at the end."""
    producer = Producer(
        {
            **security_config(),
            "bootstrap.servers": bootstrap,
            "acks": "all",
            "enable.idempotence": True,
            "linger.ms": 20,
        }
    )
    acked = [0]

    def on_delivery(err, _msg):
        if err is None:
            acked[0] += 1

    start = time.perf_counter()
    for stream, record in records(events):
        while True:
            try:
                producer.produce(
                    prefix + stream, json.dumps(record).encode(), record["vehicle_id"], on_delivery=on_delivery
                )
                break
            except BufferError:
                producer.poll(0.05)
        producer.poll(0)
    producer.flush()
    wall = time.perf_counter() - start
    assert acked[0] == events, acked
    return {"events": events, "wall_s": wall, "events_per_s": events / wall}


def memory_child(bootstrap: str, events: int, prefix: str) -> None:
    """Runs in its own process: the pipeline for ``events`` events, sampling RSS once a second."""
    samples: list[tuple[float, float]] = []
    done = threading.Event()
    start = time.monotonic()

    def sample() -> None:
        while not done.wait(1.0):
            samples.append((time.monotonic() - start, rss_mb()))

    threading.Thread(target=sample, daemon=True).start()
    result = run_pipeline(bootstrap, events, prefix)
    done.set()
    result["peak_rss_mb"] = peak_rss_mb()
    result["rss_samples_mb"] = [round(mb, 1) for _t, mb in samples]
    print(json.dumps(result))


def run_memory(bootstrap: str, events: int, prefix: str) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--bootstrap", bootstrap, "--memory-child", str(events), "--prefix", prefix],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def run_snapshots(settings: Settings, count: int) -> dict:
    from producers.run import ensure_bucket
    from producers.snapshots import SnapshotGate

    s3 = settings.boto3_client("s3")
    ensure_bucket(s3, settings.images_bucket, settings.aws_region)
    config = SimConfig(vehicles=count // 45 + 1, seed=2, start_time=START, images_bucket=settings.images_bucket)
    traffic = [r for _ms, stream, r in simulate(config) if stream == "traffic_data"][:count]
    released = []
    gate = SnapshotGate(s3, concurrency=8)
    start = time.perf_counter()
    for record in traffic:
        gate.submit(record, record, released.append)
    gate.drain(released.append)
    gate.close()
    wall = time.perf_counter() - start
    assert released == traffic
    return {"snapshots": len(traffic), "per_s": len(traffic) / wall, "kb_each": gate.bytes / len(traffic) / 1024}


def profile_pipeline(bootstrap: str, events: int, prefix: str) -> str:
    profiler = cProfile.Profile()
    profiler.enable()
    run_pipeline(bootstrap, events, prefix)
    profiler.disable()
    text = io.StringIO()
    pstats.Stats(profiler, stream=text).sort_stats("tottime").print_stats(14)
    return text.getvalue()


def delete_topics(bootstrap: str, prefix: str) -> None:
    admin = AdminClient({**security_config(), "bootstrap.servers": bootstrap})
    topics = [t for t in admin.list_topics(timeout=10).topics if t.startswith(prefix)]
    if topics:
        for future in admin.delete_topics(topics, operation_timeout=30).values():
            future.result()


@contextlib.contextmanager
def throwaway_stack() -> Iterator[Settings]:
    from smartcity.stack.ports import free_port_block
    from smartcity.stack.runner import Stack

    with tempfile.TemporaryDirectory(prefix="smartcity-bench-") as data_dir:
        os.environ.update({"SMARTCITY_DATA_DIR": data_dir, **free_port_block()})
        stack = Stack(Settings())
        try:
            stack.up()
            os.environ.update(stack.env())
            yield Settings()
        finally:
            stack.down()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000, help="events for the pipeline run")
    parser.add_argument("--naive-events", type=int, default=2_000, help="events for the flush-per-record loop")
    parser.add_argument("--per-record-events", type=int, default=300_000, help="events for the per-record loop")
    parser.add_argument("--memory-events", type=int, default=10_000_000, help="events for the memory run (0: skip)")
    parser.add_argument("--snapshots", type=int, default=200, help="camera snapshots to render and upload")
    parser.add_argument("--profile", action="store_true", help="print a cProfile of a 300k-event pipeline run")
    parser.add_argument("--own-stack", action="store_true", help="start a throwaway stack for the bench")
    parser.add_argument("--bootstrap", help=argparse.SUPPRESS)
    parser.add_argument("--memory-child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--prefix", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_child:
        memory_child(args.bootstrap, args.memory_child, args.prefix)
        return
    with throwaway_stack() if args.own_stack else contextlib.nullcontext(Settings()) as settings:
        bench(settings, args)


def bench(settings: Settings, args: argparse.Namespace) -> None:
    bootstrap = settings.kafka_bootstrap
    prefix = f"bench-{uuid.uuid4().hex[:6]}-"
    print(f"broker {bootstrap}; {os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.2f}; topics {prefix}*")
    try:
        run_pipeline(bootstrap, 50_000, prefix)  # warm-up: topics, idempotent producer id, caches
        with one_cpu() as cpu:
            pinned = run_pipeline(bootstrap, args.events, prefix)
        unpinned = run_pipeline(bootstrap, args.events, prefix)
        print(f"\npipeline, pinned to CPU {cpu} (simulate + orjson + produce_batch, acks=all, lz4):")
        print(
            f"  {pinned['events']:,} events in {pinned['wall_s']:.2f} s = {pinned['events_per_s']:,.0f} events/s, "
            f"{pinned['mb_per_s']:.1f} MB/s ({pinned['bytes_per_event']:.0f} B/event)"
        )
        print(
            f"  main thread CPU {pinned['main_thread_cpu_s']:.2f} s "
            f"= {pinned['events_per_main_thread_cpu_s']:,.0f} events per CPU-second"
        )
        print(
            f"pipeline, unpinned: {unpinned['events_per_s']:,.0f} events/s, {unpinned['mb_per_s']:.1f} MB/s, "
            f"process CPU {unpinned['process_cpu_s']:.2f} s"
        )
        naive = run_naive_flush_each(bootstrap, args.naive_events, prefix)
        per_record = run_per_record_produce(bootstrap, args.per_record_events, prefix)
        print(
            f"\nnaive loop (json.dumps + produce + flush per record): {naive['events_per_s']:,.0f} events/s "
            f"-> pipeline pinned is {pinned['events_per_s'] / naive['events_per_s']:,.0f}x faster"
        )
        print(
            f"per-record produce (json.dumps + produce + callback, one flush): {per_record['events_per_s']:,.0f} "
            f"events/s -> pipeline unpinned is {unpinned['events_per_s'] / per_record['events_per_s']:.2f}x"
        )
        if args.snapshots:
            snapshots = run_snapshots(settings, args.snapshots)
            print(
                f"\ncamera snapshots (render JPEG + S3 put, 8 in flight): {snapshots['per_s']:,.0f}/s, "
                f"{snapshots['kb_each']:.1f} KiB each"
            )
        if args.memory_events:
            memory = run_memory(bootstrap, args.memory_events, prefix)
            samples = memory["rss_samples_mb"]
            print(
                f"\nmemory: {memory['events']:,} events in {memory['wall_s']:.0f} s "
                f"({memory['events_per_s']:,.0f} events/s unpinned); peak RSS {memory['peak_rss_mb']:.0f} MB; "
                f"RSS samples (1/s) min {min(samples):.0f} / max {max(samples):.0f} MB"
            )
        if args.profile:
            print("\nprofile of a 300,000-event pipeline run (tottime):")
            print(profile_pipeline(bootstrap, 300_000, prefix))
    finally:
        delete_topics(bootstrap, prefix)


if __name__ == "__main__":
    main()
