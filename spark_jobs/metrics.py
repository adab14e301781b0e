"""Per-batch metrics as JSON lines and the per-stream accounting of the run.

Each micro-batch of each stream produces one ``{"event": "batch", ...}`` line, written when Spark reports the
batch's progress (``StreamingQueryListener.onQueryProgress``): Spark's own figures (input rows, rates,
durations, Kafka offsets) merged with the job's outcome counts for that batch. The counts are taken in the
batch itself, so the summary does not depend on the listener bus having delivered every event.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import IO, Any

from pyspark.sql.streaming import StreamingQueryListener

from spark_jobs.lake_writer import WrittenFile


@dataclass(frozen=True)
class BatchStats:
    """What one micro-batch of one stream did."""

    stream: str
    batch_id: int
    rows: int
    valid: int
    duplicates: int
    quarantined: dict[str, int]  # reject reason -> rows
    data_files: tuple[WrittenFile, ...]
    quarantine_files: tuple[WrittenFile, ...]
    watermark: str | None
    seconds: float
    phases: dict[str, float] = field(default_factory=dict)  # seconds per step of the batch

    @property
    def quarantined_total(self) -> int:
        return sum(self.quarantined.values())

    def as_dict(self) -> dict[str, Any]:
        return {
            "valid": self.valid,
            "quarantined": self.quarantined_total,
            "quarantined_by_reason": dict(sorted(self.quarantined.items())),
            "duplicates": self.duplicates,
            "late": self.quarantined.get("late", 0),
            "files": len(self.data_files),
            "bytes": sum(f.size for f in self.data_files),
            "quarantine_files": len(self.quarantine_files),
            "watermark": self.watermark,
            "write_seconds": round(self.seconds, 3),
            "phases": self.phases,
        }


@dataclass
class StreamTotals:
    batches: int = 0
    consumed: int = 0
    written: int = 0
    duplicates: int = 0
    quarantined: Counter[str] = field(default_factory=Counter)
    files: int = 0
    bytes: int = 0
    input_rows_reported: int = 0  # Spark's numInputRows, as reported to the listener

    def add(self, stats: BatchStats) -> None:
        self.batches += 1
        self.consumed += stats.rows
        self.written += stats.valid
        self.duplicates += stats.duplicates
        self.quarantined.update(stats.quarantined)
        self.files += len(stats.data_files)
        self.bytes += sum(f.size for f in stats.data_files)

    def as_dict(self) -> dict[str, Any]:
        quarantined = sum(self.quarantined.values())
        return {
            "batches": self.batches,
            "consumed": self.consumed,
            "written": self.written,
            "quarantined": quarantined,
            "quarantined_by_reason": dict(sorted(self.quarantined.items())),
            "duplicates": self.duplicates,
            "late": self.quarantined.get("late", 0),
            "balanced": self.consumed == self.written + quarantined + self.duplicates,
            "input_rows_reported": self.input_rows_reported,
            "files": self.files,
            "bytes": self.bytes,
            "avg_file_bytes": round(self.bytes / self.files) if self.files else 0,
        }


class JsonLines:
    """A thread-safe JSON-lines writer (batches of five queries report concurrently)."""

    def __init__(self, sink: IO[str]) -> None:
        self._sink = sink
        self._lock = threading.Lock()

    def write(self, record: dict[str, Any]) -> None:
        line = json.dumps({"ts": round(time.time(), 3), **record}, default=str)
        with self._lock:
            self._sink.write(line + "\n")
            self._sink.flush()


class Accounting:
    """Totals per stream, and the batch stats waiting for their progress event."""

    def __init__(self, streams: list[str]) -> None:
        self._lock = threading.Lock()
        self.totals = {stream: StreamTotals() for stream in streams}
        self._pending: dict[tuple[str, int], BatchStats] = {}

    def record(self, stats: BatchStats) -> None:
        with self._lock:
            self.totals[stats.stream].add(stats)
            self._pending[(stats.stream, stats.batch_id)] = stats

    def take(self, stream: str, batch_id: int, input_rows: int) -> BatchStats | None:
        with self._lock:
            self.totals[stream].input_rows_reported += input_rows
            return self._pending.pop((stream, batch_id), None)


def _offsets(text: Any) -> Any:
    """Kafka offsets as reported by progress (a JSON string) parsed to a dict."""
    if isinstance(text, str):
        try:
            return json.loads(text)
        except ValueError:
            return text
    return text


class MetricsListener(StreamingQueryListener):
    """Writes one JSON line per batch (and per query start/end) from Spark's progress events."""

    def __init__(self, accounting: Accounting, out: JsonLines) -> None:
        self._accounting = accounting
        self._out = out

    def onQueryStarted(self, event) -> None:
        self._out.write({"event": "query_started", "stream": event.name, "id": str(event.id)})

    def onQueryProgress(self, event) -> None:
        progress = event.progress
        source = progress.sources[0] if progress.sources else None
        stats = self._accounting.take(progress.name, progress.batchId, progress.numInputRows)
        record: dict[str, Any] = {
            "event": "batch",
            "stream": progress.name,
            "batch_id": progress.batchId,
            "input_rows": progress.numInputRows,
            "input_rows_per_second": round(progress.inputRowsPerSecond or 0.0, 1),
            "processed_rows_per_second": round(progress.processedRowsPerSecond or 0.0, 1),
            "batch_duration_ms": progress.batchDuration,
            "duration_ms": dict(progress.durationMs),
            "start_offsets": _offsets(source.startOffset) if source else None,
            "end_offsets": _offsets(source.endOffset) if source else None,
            "latest_offsets": _offsets(source.latestOffset) if source else None,
        }
        if stats is not None:
            record.update(stats.as_dict())
        self._out.write(record)

    def onQueryIdle(self, event) -> None:
        pass

    def onQueryTerminated(self, event) -> None:
        self._out.write({"event": "query_terminated", "id": str(event.id), "exception": event.exception})
