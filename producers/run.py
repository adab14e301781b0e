"""One producer run: simulate → serialize → (snapshot) → Kafka, then the run report.

Stops at arrival of the whole fleet, ``max_events``, ``duration_s``, SIGINT/SIGTERM, or the first
failure; in every case it hands over what it has, waits for every delivery report, and writes the report.
"""

from __future__ import annotations

import signal
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, Field

from producers.badrecords import BadKind, BadRecordInjector
from producers.kafka_io import KafkaSink, ProducerError, ensure_topics, producer_config, wait_for_broker
from producers.report import RunReport, SnapshotCounts, TopicCounts, report_key
from producers.simulator import SimConfig, simulate
from producers.snapshots import SnapshotError, SnapshotGate
from smartcity.contracts.records import CONTRACTS, TRAFFIC

CHECK_EVERY = 2_048  # events between checks of the clock, failures and progress


class ProducerOptions(BaseModel):
    """How to deliver the journey (the journey itself is a SimConfig)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    run_id: str = Field(default_factory=lambda: datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ-") + uuid.uuid4().hex[:8])
    bootstrap_servers: str
    topic_prefix: str = Field(
        default="", pattern=r"^[A-Za-z0-9._-]*$", description="topic = prefix + stream (isolated test runs)"
    )
    partitions: int = Field(default=3, ge=1, le=1_000)
    replication_factor: int = Field(default=1, ge=1, le=10)
    retention_hours: float = Field(default=168.0, gt=0)
    compression: str = Field(default="lz4", pattern="^(none|gzip|snappy|lz4|zstd)$")
    linger_ms: int = Field(default=20, ge=0, le=10_000)
    batch_messages: int = Field(default=1_000, ge=1, le=100_000)
    delivery_timeout_s: float = Field(default=30.0, ge=1, le=3_600)
    connect_attempts: int = Field(default=3, ge=1, le=100)
    connect_timeout_s: float = Field(default=5.0, gt=0, le=300)
    speed_up: float | None = Field(default=None, gt=0, description="journey seconds per wall second; None = no pacing")
    max_events: int | None = Field(default=None, ge=1)
    duration_s: float | None = Field(default=None, gt=0, description="wall-clock limit")
    bad_record_rate: float = Field(default=0.0, ge=0.0, le=1.0)
    bad_kinds: tuple[BadKind, ...] = tuple(BadKind)
    late_by_s: float = Field(default=3_600.0, gt=0)
    snapshot_concurrency: int = Field(default=8, ge=1, le=10)  # botocore's default pool has 10 connections
    lake_bucket: str = Field(min_length=3, max_length=63)
    report_path: Path | None = None
    upload_report: bool = True


class StopFlag:
    """Set by a signal handler or a limit; checked by the loop."""

    def __init__(self) -> None:
        self.reason: str | None = None

    def set(self, reason: str) -> None:
        if self.reason is None:
            self.reason = reason


@contextmanager
def stop_on_signals(stop: StopFlag) -> Iterator[None]:
    """SIGINT/SIGTERM request a clean stop instead of killing the process (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {}

    def handler(signum: int, _frame: Any) -> None:
        stop.set(f"signal {signal.Signals(signum).name}")

    for signum in (signal.SIGINT, signal.SIGTERM):
        previous[signum] = signal.signal(signum, handler)
    try:
        yield
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)


class Progress:
    """What the run loop reports to a UI (rich progress bar in the CLI); no-op by default."""

    def start(self, total: int | None) -> None: ...

    def update(self, events: int) -> None: ...

    def stop(self) -> None: ...

    def log(self, message: str) -> None: ...


def ensure_bucket(s3: Any, bucket: str, region: str) -> None:
    """Create ``bucket`` if it does not exist (idempotent)."""
    from botocore.exceptions import ClientError

    try:
        s3.head_bucket(Bucket=bucket)
        return
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") not in ("404", "NoSuchBucket", "NotFound"):
            raise
    kwargs: dict[str, Any] = {"Bucket": bucket}
    if region != "us-east-1":
        kwargs["CreateBucketConfiguration"] = {"LocationConstraint": region}
    try:
        s3.create_bucket(**kwargs)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
            raise


class ProducerRun:
    """Wires the simulator to Kafka and S3 and keeps the books."""

    def __init__(
        self,
        sim: SimConfig,
        options: ProducerOptions,
        s3_factory: Callable[[], Any] | None = None,
        region: str = "us-east-1",
        progress: Progress | None = None,
    ) -> None:
        self.sim = sim
        self.options = options
        self.s3_factory = s3_factory
        self.region = region
        self.progress = progress or Progress()
        self.stop = StopFlag()
        self.topic_of = {stream: f"{options.topic_prefix}{stream}" for stream in sim.streams}
        self.topics = list(self.topic_of.values())
        self.report = RunReport(
            run_id=options.run_id,
            started_at=datetime.now(UTC),
            seed=sim.seed,
            journey_start=sim.start_time,
            vehicles=sim.vehicles,
            bootstrap_servers=options.bootstrap_servers,
            config={
                "simulation": sim.model_dump(mode="json"),
                "producer": options.model_dump(mode="json", exclude={"run_id"}),
            },
            topics={topic: TopicCounts() for topic in self.topics},
        )

    # --- setup ---------------------------------------------------------------------------
    def _s3(self) -> Any:
        if self.s3_factory is None:
            raise ProducerError("S3 is needed (traffic snapshots, report upload) but no S3 client is configured")
        return self.s3_factory()

    def prepare(self) -> tuple[KafkaSink, SnapshotGate | None, Any]:
        options = self.options
        wait_for_broker(
            options.bootstrap_servers, attempts=options.connect_attempts, timeout_s=options.connect_timeout_s
        )
        created = ensure_topics(
            options.bootstrap_servers,
            self.topics,
            options.partitions,
            options.replication_factor,
            int(options.retention_hours * 3_600_000),
        )
        if created:
            self.progress.log(f"created topics: {', '.join(created)}")
        s3 = None
        gate = None
        needs_snapshots = TRAFFIC.stream in self.topic_of
        if needs_snapshots or options.upload_report:
            s3 = self._s3()
            try:
                if needs_snapshots:
                    ensure_bucket(s3, self.sim.images_bucket, self.region)
                if options.upload_report:
                    ensure_bucket(s3, options.lake_bucket, self.region)
            except Exception as exc:  # botocore raises many types: connection, credentials, client errors
                raise ProducerError(f"S3 is not usable: {exc}") from exc
        if needs_snapshots:
            gate = SnapshotGate(s3, concurrency=options.snapshot_concurrency)
            self.report.snapshots = SnapshotCounts(bucket=self.sim.images_bucket)
        config = producer_config(
            options.bootstrap_servers,
            client_id=f"smartcity-producer-{options.run_id}",
            compression=options.compression,
            linger_ms=options.linger_ms,
            delivery_timeout_s=options.delivery_timeout_s,
        )
        sink = KafkaSink(config, self.topics, batch_messages=options.batch_messages, log=self.progress.log)
        return sink, gate, s3

    # --- the run -------------------------------------------------------------------------
    def execute(self) -> RunReport:
        """Run to the end (or a stop), account for everything, write the report; raises ProducerError last."""
        sink, gate, s3 = self.prepare()
        error: str | None = None
        unsent = 0
        with stop_on_signals(self.stop):
            try:
                self._loop(sink, gate)
            except SnapshotError as exc:
                error = str(exc)
                self.stop.set("error")
            finally:
                self.progress.stop()
                if gate is not None:
                    unsent = gate.abandon() if error else 0
                    if not error:
                        gate.close()
                remaining = sink.close(self.options.delivery_timeout_s + 10)
        if sink.fatal:
            error = error or f"Kafka producer fatal error: {sink.fatal}"
        if sink.failed_total:
            error = error or (
                f"{sink.failed_total} message(s) could not be delivered within "
                f"{self.options.delivery_timeout_s:g} s: {sink.first_failure}"
            )
        if remaining:
            error = error or f"{remaining} message(s) left without a delivery report"
        self._fill_report(sink, gate, unsent, error)
        self._publish_report(s3)
        if error:
            raise ProducerError(error)
        return self.report

    def _loop(self, sink: KafkaSink, gate: SnapshotGate | None) -> None:
        """The hot loop: a few microseconds per event, so lookups are hoisted and the common path inlined."""
        options = self.options
        stop = self.stop
        topic_of = self.topic_of
        first_time: dict[str, str] = {}
        last_time: dict[str, str] = {}
        injector = BadRecordInjector(options.bad_record_rate, options.bad_kinds, self.sim.seed, options.late_by_s)
        inject = injector.maybe if options.bad_record_rate > 0 else None
        dumps = orjson.dumps
        buffers = sink.buffers
        batch_messages = sink.batch_messages
        flush_buffer = sink.flush_buffer
        traffic = TRAFFIC.stream

        def emit(item: tuple[str, dict[str, Any], bytes, int]) -> None:
            """Send one released record (traffic, out of the snapshot gate); times may go back a little."""
            stream, record, payload, time_ms = item
            topic = topic_of[stream]
            sink.send(topic, record["vehicle_id"], payload)
            event_time = record["event_time"]
            if stream not in first_time or event_time < first_time[stream]:
                first_time[stream] = event_time
            if stream not in last_time or event_time > last_time[stream]:
                last_time[stream] = event_time
            if inject is not None:
                bad = inject(CONTRACTS[stream], record, payload, time_ms)
                if bad is not None:
                    sink.send_injected(topic, record["vehicle_id"], bad[1], bad[0])

        self.progress.start(options.max_events)
        started = time.monotonic()
        deadline = started + options.duration_s if options.duration_s else None
        pace = options.speed_up
        journey_zero: int | None = None
        events = 0
        max_events = options.max_events or -1
        for time_ms, stream, record in simulate(self.sim):
            if pace is not None:
                if journey_zero is None:
                    journey_zero = time_ms
                self._wait_until(started + (time_ms - journey_zero) / 1000 / pace, sink, gate, emit, deadline)
                if stop.reason:
                    break
            payload = dumps(record)
            if stream == traffic:
                if gate is None:
                    emit((stream, record, payload, time_ms))
                else:
                    gate.submit(record, (stream, record, payload, time_ms), emit)
            else:
                # every other stream comes out of the simulator in time order: first seen = earliest
                topic = topic_of[stream]
                buffer = buffers[topic]
                buffer.append({"key": record["vehicle_id"], "value": payload})
                if len(buffer) >= batch_messages:
                    flush_buffer(topic)
                if stream not in first_time:
                    first_time[stream] = record["event_time"]
                last_time[stream] = record["event_time"]
                if inject is not None:
                    bad = inject(CONTRACTS[stream], record, payload, time_ms)
                    if bad is not None:
                        sink.send_injected(topic, record["vehicle_id"], bad[1], bad[0])
            events += 1
            if events == max_events:
                stop.set("max_events")
                break
            if events % CHECK_EVERY == 0:
                self.progress.update(events)
                if deadline is not None and time.monotonic() >= deadline:
                    stop.set("duration")
                if sink.failed_total or sink.fatal:
                    stop.set("error")
                if gate is not None:
                    gate.release_ready(emit)
            if stop.reason:
                break
        else:
            stop.set("arrived")
        if gate is not None and stop.reason != "error":
            gate.drain(emit)
        self.progress.update(events)
        self.progress.stop()
        for stream, topic in topic_of.items():
            self.report.topics[topic].first_event_time = first_time.get(stream)
            self.report.topics[topic].last_event_time = last_time.get(stream)

    def _wait_until(
        self,
        target: float,
        sink: KafkaSink,
        gate: SnapshotGate | None,
        emit: Callable[[Any], None],
        deadline: float | None,
    ) -> None:
        """Real-time pacing: hand over what is buffered, then wait (serving callbacks) until ``target``."""
        now = time.monotonic()
        if now >= target:
            return
        sink.flush_buffers()
        while not self.stop.reason:
            if gate is not None:
                gate.release_ready(emit)
            if deadline is not None and now >= deadline:
                self.stop.set("duration")
                return
            if sink.failed_total or sink.fatal:
                self.stop.set("error")
                return
            if now >= target:
                return
            sink.poll(min(target - now, 0.1))
            now = time.monotonic()

    # --- the report ----------------------------------------------------------------------
    def _fill_report(self, sink: KafkaSink, gate: SnapshotGate | None, unsent: int, error: str | None) -> None:
        report = self.report
        for topic, counts in report.topics.items():
            counts.bytes = sink.produced_bytes.get(topic, 0)
            for (produced_topic, kind), produced in sink.produced.items():
                if produced_topic != topic:
                    continue
                failed = sink.failed.get((topic, kind), 0)
                counts.produced += produced
                counts.failed += failed
                counts.acknowledged += produced - failed
                if kind is None:
                    counts.good_produced += produced
                    counts.good_acknowledged += produced - failed
                else:
                    counts.injected[kind] = produced
                    counts.injected_acknowledged[kind] = produced - failed
        if gate is not None:
            report.topics[self.topic_of[TRAFFIC.stream]].unsent = unsent
            report.snapshots.uploaded = gate.uploaded
            report.snapshots.failed = gate.failed
            report.snapshots.bytes = gate.bytes
        reason = self.stop.reason or "arrived"
        report.stop_reason = reason
        report.error = error
        if error:
            report.status = "failed"
        elif reason.startswith("signal"):
            report.status = "interrupted"
        else:
            report.status = "completed"
        report.finished_at = datetime.now(UTC)

    def _publish_report(self, s3: Any) -> None:
        """Write the report locally and to s3://<lake>/reports/<run_id>.json (both attempted)."""
        report = self.report
        problems = []
        if self.options.upload_report and s3 is not None:
            uri = f"s3://{self.options.lake_bucket}/{report_key(report.run_id)}"
            report.report_uri = uri
            try:
                s3.put_object(
                    Bucket=self.options.lake_bucket,
                    Key=report_key(report.run_id),
                    Body=report.to_json(),
                    ContentType="application/json",
                )
            except Exception as exc:  # keep the local copy whatever S3 says
                report.report_uri = None
                problems.append(f"report upload to {uri} failed: {exc}")
        if self.options.report_path is not None:
            report.write(self.options.report_path)
        if problems and not report.error:
            report.error = problems[0]
            report.status = "failed"
            if self.options.report_path is not None:
                report.write(self.options.report_path)
            raise ProducerError(problems[0])
