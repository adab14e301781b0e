"""When to stop: the end offsets a drain runs up to, and whether a query has consumed them.

Offsets follow Kafka's convention: the offset of the *next* record, so a partition holding records 0..9
has end offset 10, and Spark's progress reports the same kind of offset as ``endOffset``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from smartcity.kafka_client import security_config

EndOffsets = dict[str, dict[int, int]]  # topic -> partition -> next offset


class DrainError(Exception):
    """An expected problem with drain inputs (bad report file, unknown topic); the message says which."""


def parse_offsets(document: Any, source: str) -> EndOffsets:
    """``{"end_offsets": {topic: {partition: offset}}}`` (or the inner mapping alone) as :data:`EndOffsets`."""
    if isinstance(document, Mapping) and "end_offsets" in document:
        document = document["end_offsets"]
    if not isinstance(document, Mapping):
        raise DrainError(f"{source}: expected an object of topic -> partition -> offset")
    offsets: EndOffsets = {}
    for topic, partitions in document.items():
        if not isinstance(partitions, Mapping):
            raise DrainError(f"{source}: topic {topic!r} must map partitions to offsets")
        try:
            offsets[str(topic)] = {int(p): int(o) for p, o in partitions.items()}
        except (TypeError, ValueError):
            raise DrainError(f"{source}: topic {topic!r} has a partition or offset that is not an integer") from None
    return offsets


def read_offsets_file(path: Path) -> EndOffsets | None:
    """The end offsets in a producer run report, or None when the report names none.

    A report with an ``end_offsets`` object (see :func:`parse_offsets`) gives them; a report without (the
    producer's run report only counts messages) means "the producer has finished": the drain then runs to
    the topics' end offsets at that moment, which cover every message the producer had acknowledged.
    """
    try:
        document = json.loads(path.read_text())
    except OSError as error:
        raise DrainError(f"cannot read end offsets from {path}: {error.strerror}") from None
    except ValueError as error:
        raise DrainError(f"{path} is not JSON: {error}") from None
    if not isinstance(document, Mapping):
        raise DrainError(f"{path}: expected a JSON object")
    if "end_offsets" not in document:
        return None
    return parse_offsets(document, str(path))


def progress_offsets(end_offset: Any) -> EndOffsets:
    """Spark's ``sources[0].endOffset`` of a Kafka source (JSON text or dict) as :data:`EndOffsets`."""
    if end_offset is None:
        return {}
    document = json.loads(end_offset) if isinstance(end_offset, str) else end_offset
    return parse_offsets(document, "progress")


def reached(consumed: EndOffsets, target: Mapping[int, int], topic: str) -> bool:
    """Whether every partition of ``topic`` in ``target`` has been consumed up to its end offset."""
    done = consumed.get(topic, {})
    return all(done.get(partition, 0) >= offset for partition, offset in target.items())


def kafka_end_offsets(
    bootstrap: str, topics: list[str], options: Mapping[str, str], timeout_s: float = 15
) -> EndOffsets:
    """Current end offsets of ``topics``; :class:`DrainError` naming any topic that does not exist."""
    from confluent_kafka import Consumer, KafkaException, TopicPartition

    # ``options`` are the Spark source's Java client properties; librdkafka has no JAAS, it takes security_config().
    java_only = {"sasl.jaas.config"}
    librdkafka_options = {key: value for key, value in options.items() if key not in java_only}
    consumer = Consumer(
        {
            **security_config(),
            "bootstrap.servers": bootstrap,
            "group.id": "smartcity-streaming-probe",
            **librdkafka_options,
        }
    )
    try:
        try:
            metadata = consumer.list_topics(timeout=timeout_s)
        except KafkaException as error:
            raise DrainError(f"cannot reach Kafka at {bootstrap}: {error.args[0].str()}") from None
        missing = [t for t in topics if t not in metadata.topics or metadata.topics[t].error is not None]
        if missing:
            raise DrainError(f"topic(s) {', '.join(missing)} do not exist on {bootstrap}")
        offsets: EndOffsets = {}
        for topic in topics:
            offsets[topic] = {}
            for partition in sorted(metadata.topics[topic].partitions):
                _, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=timeout_s)
                offsets[topic][partition] = high
        return offsets
    finally:
        consumer.close()
