"""How far the streaming job has got: Kafka consumer lag per topic and the last batch time per stream.

Spark's Kafka source does not commit offsets to a consumer group, so Kafka itself cannot tell the job's
lag. The job's checkpoint can: Structured Streaming writes ``offsets/<batch>`` (the end offsets a batch
will read up to) before the batch and ``commits/<batch>`` after it. The newest batch with a commit is
therefore exactly what has been written to the lake; its offsets against Kafka's end offsets are the lag,
and the commit file's modification time is when that batch finished.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

TopicOffsets = dict[str, dict[int, int]]


@dataclass(frozen=True)
class CheckpointProgress:
    """What one checkpoint has committed: offsets per topic/partition and when."""

    checkpoint: Path
    batch_id: int
    committed_at: datetime
    offsets: TopicOffsets


@dataclass(frozen=True)
class TopicLag:
    """One topic as ``smartcity stack status`` shows it."""

    topic: str
    committed: int | None  # sum over partitions of what the job has written; None before its first batch
    end: int | None  # sum over partitions of Kafka's end offsets; None when Kafka did not answer
    last_batch_at: datetime | None

    @property
    def lag(self) -> int | None:
        if self.end is None:
            return None
        return self.end - (self.committed or 0)

    def as_dict(self) -> dict:
        out = asdict(self)
        out["lag"] = self.lag
        out["last_batch_at"] = self.last_batch_at.isoformat() if self.last_batch_at else None
        return out


def _batch_ids(folder: Path) -> list[int]:
    if not folder.is_dir():
        return []
    return sorted(int(p.name) for p in folder.iterdir() if p.name.isdigit())


def parse_offsets_file(text: str) -> TopicOffsets:
    """The source offsets of an ``offsets/<batch>`` file (a version line, the batch metadata, one line per
    source; Kafka sources write ``{"topic": {"partition": offset}}``, other sources are skipped)."""
    offsets: TopicOffsets = {}
    for line in text.splitlines()[2:]:
        try:
            document = json.loads(line)
        except json.JSONDecodeError:
            continue
        if not isinstance(document, dict):
            continue
        for topic, partitions in document.items():
            if isinstance(partitions, dict):
                offsets.setdefault(topic, {}).update({int(p): int(o) for p, o in partitions.items()})
    return offsets


def checkpoint_progress(checkpoint: Path) -> CheckpointProgress | None:
    """The newest committed batch of one query's checkpoint folder, or None before the first commit."""
    committed = _batch_ids(checkpoint / "commits")
    if not committed:
        return None
    batch = committed[-1]
    offsets_file = checkpoint / "offsets" / str(batch)
    if not offsets_file.is_file():
        return None
    return CheckpointProgress(
        checkpoint=checkpoint,
        batch_id=batch,
        committed_at=datetime.fromtimestamp((checkpoint / "commits" / str(batch)).stat().st_mtime, UTC),
        offsets=parse_offsets_file(offsets_file.read_text()),
    )


def find_checkpoints(root: Path) -> list[Path]:
    """Every Structured Streaming checkpoint folder under ``root`` (a folder holding ``offsets/``)."""
    if not root.is_dir():
        return []
    return sorted(p.parent for p in root.rglob("offsets") if p.is_dir() and (p.parent / "commits").is_dir())


def topic_lags(
    progress: Iterable[CheckpointProgress], end_offsets: Mapping[str, Mapping[int, int]] | None, topics: Iterable[str]
) -> list[TopicLag]:
    """Lag per topic: Kafka's end offsets minus the newest committed offsets across checkpoints."""
    committed: TopicOffsets = {}
    last: dict[str, datetime] = {}
    for item in progress:
        for topic, partitions in item.offsets.items():
            mine = committed.setdefault(topic, {})
            for partition, offset in partitions.items():
                mine[partition] = max(offset, mine.get(partition, 0))
            if topic not in last or item.committed_at > last[topic]:
                last[topic] = item.committed_at
    rows = []
    for topic in topics:
        end = end_offsets.get(topic) if end_offsets is not None else None
        rows.append(
            TopicLag(
                topic=topic,
                committed=sum(committed[topic].values()) if topic in committed else None,
                end=sum(end.values()) if end is not None else None,
                last_batch_at=last.get(topic),
            )
        )
    return rows


def kafka_end_offsets(config: Mapping[str, str], topics: Iterable[str], timeout_s: float = 5) -> TopicOffsets | None:
    """Kafka's end offsets of the topics that exist; None when the broker does not answer."""
    from confluent_kafka import Consumer, KafkaException, TopicPartition

    consumer = Consumer({**config, "group.id": "smartcity-status-probe", "enable.auto.commit": False})
    try:
        try:
            metadata = consumer.list_topics(timeout=timeout_s)
        except KafkaException:
            return None
        out: TopicOffsets = {}
        for topic in topics:
            described = metadata.topics.get(topic)
            if described is None or described.error is not None:
                continue
            out[topic] = {
                partition: consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=timeout_s)[1]
                for partition in described.partitions
            }
        return out
    finally:
        consumer.close()
