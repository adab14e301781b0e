"""The run report: what the producer sent, what the broker acknowledged, what was injected.

Written as JSON to a local path and to ``s3://<lake-bucket>/reports/<run_id>.json``; the reconciliation
compares the lake against it: per topic, ``expected_valid`` rows in ``data/<stream>/`` and
``expected_quarantined`` (by reason) in ``quarantine/<stream>/``; ``expected_duplicates`` are dropped.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, computed_field

from producers.badrecords import EXPECTED_REASON, BadKind

REPORT_PREFIX = "reports/"


class TopicCounts(BaseModel):
    """Counts of one topic. Every message handed to Kafka ends up acknowledged or failed."""

    produced: int = Field(default=0, description="messages handed to the Kafka client (good + injected)")
    acknowledged: int = Field(default=0, description="messages the broker confirmed (acks=all)")
    failed: int = Field(default=0, description="messages whose delivery failed after the client's retries")
    bytes: int = Field(default=0, description="payload bytes handed to the Kafka client")
    unsent: int = Field(default=0, description="good records generated but never handed to Kafka (run aborted)")
    good_produced: int = 0
    good_acknowledged: int = 0
    injected: dict[BadKind, int] = Field(default_factory=dict, description="injected bad records produced")
    injected_acknowledged: dict[BadKind, int] = Field(default_factory=dict)
    first_event_time: str | None = Field(default=None, description="earliest event_time of a good record")
    last_event_time: str | None = Field(default=None, description="latest event_time of a good record")

    @computed_field
    @property
    def expected_valid(self) -> int:
        """Rows the lake's data/<stream>/ should hold: acknowledged good records."""
        return self.good_acknowledged

    @computed_field
    @property
    def expected_quarantined(self) -> dict[str, int]:
        """Rows quarantine/<stream>/ should hold, by reason: acknowledged injected records."""
        counts: dict[str, int] = {}
        for kind, count in self.injected_acknowledged.items():
            reason = EXPECTED_REASON[kind]
            if reason is not None and count:
                counts[reason.value] = counts.get(reason.value, 0) + count
        return counts

    @computed_field
    @property
    def expected_duplicates(self) -> int:
        return self.injected_acknowledged.get(BadKind.DUPLICATE, 0)


class SnapshotCounts(BaseModel):
    uploaded: int = 0
    failed: int = 0
    bytes: int = 0
    bucket: str | None = None


class RunReport(BaseModel):
    run_id: str
    status: Literal["running", "completed", "interrupted", "failed"] = "running"
    stop_reason: str = Field(default="", description="arrived | max_events | duration | signal SIGINT/SIGTERM | error")
    error: str | None = None
    started_at: datetime
    finished_at: datetime | None = None
    seed: int
    journey_start: datetime
    vehicles: int
    bootstrap_servers: str
    config: dict[str, object] = Field(default_factory=dict, description="simulation and producer options")
    topics: dict[str, TopicCounts]
    snapshots: SnapshotCounts = Field(default_factory=SnapshotCounts)
    report_uri: str | None = None

    @computed_field
    @property
    def totals(self) -> TopicCounts:
        total = TopicCounts()
        for counts in self.topics.values():
            total.produced += counts.produced
            total.acknowledged += counts.acknowledged
            total.failed += counts.failed
            total.unsent += counts.unsent
            total.bytes += counts.bytes
            total.good_produced += counts.good_produced
            total.good_acknowledged += counts.good_acknowledged
            for kind, count in counts.injected.items():
                total.injected[kind] = total.injected.get(kind, 0) + count
            for kind, count in counts.injected_acknowledged.items():
                total.injected_acknowledged[kind] = total.injected_acknowledged.get(kind, 0) + count
        return total

    def to_json(self) -> bytes:
        return self.model_dump_json(indent=2).encode() + b"\n"

    def write(self, path: Path) -> None:
        """Write atomically (a reader never sees half a report)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + ".partial")
        partial.write_bytes(self.to_json())
        partial.replace(path)


def report_key(run_id: str) -> str:
    return f"{REPORT_PREFIX}{run_id}.json"
