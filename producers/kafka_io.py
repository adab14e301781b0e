"""Kafka plumbing: broker check, topic creation, and a batching sink that accounts for every message.

Delivery accounting: the producer runs with ``delivery.report.only.error``, so librdkafka calls back only
for failed messages; every message handed over is either acknowledged (acks=all) or reported failed once
``flush`` has returned with nothing left (``message.timeout.ms`` bounds how long that takes). Hence
acknowledged = produced - failed, exactly, per topic and per injected kind, without a Python callback
per message.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Producer
from confluent_kafka.admin import AdminClient, ClusterMetadata, NewTopic

from producers.badrecords import INJECTED_HEADER, BadKind
from smartcity.kafka_client import security_config


class ProducerError(Exception):
    """An expected operational problem (broker down, delivery failures, S3 down): printed, exit 1."""


def wait_for_broker(bootstrap: str, attempts: int = 3, timeout_s: float = 5.0) -> ClusterMetadata:
    """Cluster metadata from ``bootstrap``; bounded retries with backoff, then a ProducerError."""
    admin = AdminClient(
        {
            **security_config(),
            "bootstrap.servers": bootstrap,
            "socket.connection.setup.timeout.ms": int(timeout_s * 1000),
        }
    )
    last: Exception | None = None
    for attempt in range(1, attempts + 1):
        try:
            return admin.list_topics(timeout=timeout_s)
        except KafkaException as exc:
            last = exc
            if attempt < attempts:
                time.sleep(min(2.0 ** (attempt - 1), 5.0))
    detail = last.args[0].str() if last and last.args and isinstance(last.args[0], KafkaError) else last
    raise ProducerError(f"Kafka broker at {bootstrap} is not reachable after {attempts} attempts: {detail}")


def ensure_topics(
    bootstrap: str, topics: list[str], partitions: int, replication_factor: int, retention_ms: int
) -> list[str]:
    """Create the missing topics (idempotent; a concurrent creation is fine). Returns the created ones."""
    admin = AdminClient({**security_config(), "bootstrap.servers": bootstrap})
    existing = set(admin.list_topics(timeout=10).topics)
    missing = [topic for topic in topics if topic not in existing]
    if not missing:
        return []
    futures = admin.create_topics(
        [
            NewTopic(
                topic,
                num_partitions=partitions,
                replication_factor=replication_factor,
                config={"retention.ms": str(retention_ms)},
            )
            for topic in missing
        ],
        operation_timeout=30,
    )
    created = []
    for topic, future in futures.items():
        try:
            future.result()
            created.append(topic)
        except KafkaException as exc:
            error = exc.args[0]
            if error.code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise ProducerError(f"cannot create topic {topic}: {error.str()}") from None
    return created


def producer_config(
    bootstrap: str,
    *,
    client_id: str,
    compression: str = "lz4",
    linger_ms: int = 20,
    delivery_timeout_s: float = 30.0,
    queue_max_messages: int = 100_000,
    queue_max_kbytes: int = 65_536,
) -> dict[str, Any]:
    """Idempotent, acks=all, batched and compressed; bounded memory and bounded retry time."""
    return {
        **security_config(),
        "bootstrap.servers": bootstrap,
        "client.id": client_id,
        "enable.idempotence": True,  # implies acks=all, retries, max.in.flight <= 5 with ordering kept
        "acks": "all",
        "compression.type": compression,
        "linger.ms": linger_ms,
        "batch.size": 1_000_000,
        "batch.num.messages": 10_000,
        "queue.buffering.max.messages": queue_max_messages,
        "queue.buffering.max.kbytes": queue_max_kbytes,
        "message.timeout.ms": int(delivery_timeout_s * 1000),
        "partitioner": "murmur2_random",  # same key → partition mapping as Java clients
        "delivery.report.only.error": True,
    }


class KafkaSink:
    """Buffers good records per topic and hands them over with ``produce_batch``; counts everything."""

    def __init__(
        self,
        config: dict[str, Any],
        topics: list[str],
        batch_messages: int = 1_000,
        log: Callable[[str], None] = lambda _message: None,
    ) -> None:
        self.queue_max = int(config.get("queue.buffering.max.messages", 100_000))
        self.producer = Producer({**config, "error_cb": self._on_error})
        self.batch_messages = batch_messages
        self.buffers: dict[str, list[dict[str, Any]]] = {topic: [] for topic in topics}
        self.produced: Counter[tuple[str, BadKind | None]] = Counter()
        self.failed: Counter[tuple[str, BadKind | None]] = Counter()
        self.produced_bytes: Counter[str] = Counter()
        self.first_failure: str | None = None
        self.fatal: str | None = None
        self.log = log

    # --- sending -------------------------------------------------------------------
    def send(self, topic: str, key: str, value: bytes) -> None:
        buffer = self.buffers[topic]
        buffer.append({"key": key, "value": value})
        if len(buffer) >= self.batch_messages:
            self.flush_buffer(topic)

    def send_injected(self, topic: str, key: str, value: bytes, kind: BadKind) -> None:
        """Send one labelled bad record, after everything buffered for ``topic`` (keeps per-key order)."""
        self.flush_buffer(topic)
        self._wait_for_room(1)
        self.producer.produce(topic, value, key, headers=[(INJECTED_HEADER, kind.value)], on_delivery=self._on_delivery)
        self.produced[(topic, kind)] += 1
        self.produced_bytes[topic] += len(value)

    def flush_buffer(self, topic: str) -> None:
        buffer = self.buffers[topic]
        if not buffer:
            return
        self.buffers[topic] = []
        self._wait_for_room(len(buffer))
        queued = self.producer.produce_batch(topic, buffer, on_delivery=self._on_delivery)
        if queued != len(buffer):
            queued += self._retry_rejected(topic, buffer)
        self.produced[(topic, None)] += queued
        self.produced_bytes[topic] += sum(len(message["value"]) for message in buffer)
        self.producer.poll(0)

    def flush_buffers(self) -> None:
        for topic in self.buffers:
            self.flush_buffer(topic)

    def _retry_rejected(self, topic: str, batch: list[dict[str, Any]]) -> int:
        """Messages produce_batch refused to enqueue: retry one by one; count what still fails."""
        queued = 0
        for message in batch:
            if "_error" not in message:
                continue
            try:
                self._wait_for_room(1)
                self.producer.produce(topic, message["value"], message["key"], on_delivery=self._on_delivery)
                queued += 1
            except (BufferError, KafkaException) as exc:
                self._record_failure(topic, None, str(exc))
                self.produced[(topic, None)] += 1  # counted as produced and failed: never silently gone
        return queued

    def _wait_for_room(self, count: int) -> None:
        """Backpressure: serve delivery reports until ``count`` more messages fit in the local queue."""
        while len(self.producer) + count > self.queue_max:
            self.producer.poll(0.05)

    # --- callbacks -----------------------------------------------------------------
    def _on_delivery(self, error: KafkaError | None, message: Any) -> None:
        if error is None:  # only errors are reported (delivery.report.only.error)
            return
        kind = None
        for name, value in message.headers() or ():
            if name == INJECTED_HEADER:
                kind = BadKind(value.decode())
        self._record_failure(message.topic(), kind, error.str())

    def _record_failure(self, topic: str, kind: BadKind | None, detail: str) -> None:
        self.failed[(topic, kind)] += 1
        if self.first_failure is None:
            self.first_failure = detail
            self.log(f"delivery to {topic} failed: {detail}")

    def _on_error(self, error: KafkaError) -> None:
        if error.fatal():
            self.fatal = error.str()
        self.log(f"kafka: {error.str()}")

    # --- state ---------------------------------------------------------------------
    @property
    def failed_total(self) -> int:
        return sum(self.failed.values())

    @property
    def in_flight(self) -> int:
        return len(self.producer) + sum(len(buffer) for buffer in self.buffers.values())

    def poll(self, timeout_s: float = 0.0) -> None:
        self.producer.poll(timeout_s)

    def close(self, timeout_s: float) -> int:
        """Hand over the buffers and wait for every delivery report; returns messages still unaccounted.

        Waits up to ``timeout_s`` (use more than ``message.timeout.ms``: by then librdkafka has reported
        every message as delivered or failed). Anything left is purged from the local queue, which
        reports it as failed, so the counts stay exact.
        """
        self.flush_buffers()
        remaining = self.producer.flush(timeout_s)
        if remaining:
            self.producer.purge(in_queue=True, in_flight=False)
            remaining = self.producer.flush(timeout_s)
        if not remaining:
            self.producer.close()  # nothing outstanding: returns at once, and no reconnect attempts linger
        return remaining
