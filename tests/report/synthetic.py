"""Small report inputs built from the real simulator and contracts (no hand-copied figures).

``journey(...)`` simulates a short fleet journey and shapes it the way the lake would hold it; the
Athena-side inputs (row counts, quarantine counts) are derived from those records, so a test can say
"the lake holds exactly what was sent" or perturb one number and see the report notice.
"""

from __future__ import annotations

import itertools
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from producers.badrecords import BadKind
from producers.report import RunReport, TopicCounts
from producers.simulator import SimConfig, simulate
from smartcity.contracts.records import CONTRACTS

START = datetime(2025, 3, 1, 5, 30, tzinfo=UTC)


def epoch(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


@dataclass
class Journey:
    config: SimConfig
    records: dict[str, list[dict[str, Any]]]
    injected: dict[str, dict[BadKind, int]]
    prefix: str

    @property
    def counts(self) -> dict[str, int]:
        return {stream: len(rows) for stream, rows in self.records.items()}

    def run_report(self, run_id: str = "synthetic-run") -> RunReport:
        topics = {}
        for stream, rows in self.records.items():
            injected = self.injected.get(stream, {})
            sent = len(rows) + sum(injected.values())
            topics[f"{self.prefix}{stream}"] = TopicCounts(
                produced=sent,
                acknowledged=sent,
                good_produced=len(rows),
                good_acknowledged=len(rows),
                injected=dict(injected),
                injected_acknowledged=dict(injected),
                first_event_time=min(r["event_time"] for r in rows),
                last_event_time=max(r["event_time"] for r in rows),
            )
        started = datetime.now(UTC) - timedelta(minutes=2)
        return RunReport(
            run_id=run_id,
            status="completed",
            stop_reason="arrived",
            started_at=started,
            finished_at=started + timedelta(seconds=40),
            seed=self.config.seed,
            journey_start=self.config.start_time,
            vehicles=self.config.vehicles,
            bootstrap_servers="127.0.0.1:9092",
            config={"simulation": self.config.model_dump(mode="json"), "producer": {"topic_prefix": self.prefix}},
            topics=topics,
        )

    def quarantine_rows(self) -> list[dict[str, Any]]:
        """What the quarantine count query returns when every injected record was quarantined."""
        rows = []
        for stream, kinds in self.injected.items():
            for kind, n in kinds.items():
                if kind is not BadKind.DUPLICATE and n:
                    rows.append({"stream": f"{self.prefix}{stream}", "reason": kind.value, "row_count": n})
        return rows

    # --- the journey as the report's queries return it -----------------------------------------------------------
    def tracks(self) -> list[dict[str, Any]]:
        return [{**r, "t": epoch(r["event_time"])} for r in self.records.get("vehicle_data", [])]

    def weather(self) -> list[dict[str, Any]]:
        return [{**r, "t": epoch(r["event_time"])} for r in self.records.get("weather_data", [])]

    def incidents(self) -> list[dict[str, Any]]:
        first: dict[str, dict[str, Any]] = {}
        events: Counter[str] = Counter()
        for r in self.records.get("emergency_data", []):
            first.setdefault(r["incident_id"], {**r, "t": epoch(r["event_time"])})
            events[r["incident_id"]] += 1
        return [{**row, "status_events": events[incident]} for incident, row in first.items()]

    def cameras(self) -> list[dict[str, Any]]:
        by_camera: dict[str, dict[str, Any]] = {}
        for r in self.records.get("traffic_data", []):
            camera = by_camera.setdefault(r["camera_id"], {**r, "snapshots": 0})
            camera["snapshots"] += 1
        return list(by_camera.values())


def journey(
    vehicles: int = 3,
    events: int | None = None,
    seed: int = 11,
    prefix: str = "",
    injected: dict[str, dict[BadKind, int]] | None = None,
) -> Journey:
    config = SimConfig(
        vehicles=vehicles, seed=seed, start_time=START, departure_interval_s=90, emergency_rate_per_hour=1.5
    )
    records: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for _time, stream, record in itertools.islice(simulate(config), events):
        records[stream].append(record)
    ordered = {stream: records[stream] for stream in CONTRACTS if records.get(stream)}
    default = {
        "vehicle_data": {BadKind.MALFORMED_JSON: 2, BadKind.DUPLICATE: 3},
        "gps_data": {BadKind.OUT_OF_RANGE: 1, BadKind.WRONG_TYPE: 2},
        "weather_data": {BadKind.MISSING_FIELD: 1},
    }
    return Journey(config, ordered, injected if injected is not None else default, prefix)


def metrics_lines(journey: Journey, batch_rows: int = 400, job_start: float = 1_750_000_000.0) -> list[dict]:
    """The job's metrics for consuming the journey in batches of ``batch_rows`` per stream (as it writes them)."""
    lines: list[dict] = [{"ts": job_start, "event": "job_started", "streams": list(journey.records)}]
    clock = job_start + 6.0
    for stream, rows in journey.records.items():
        lines.append({"ts": job_start + 5.0, "event": "query_started", "stream": stream, "id": "x"})
        for batch_id, start in enumerate(range(0, len(rows), batch_rows)):
            n = min(batch_rows, len(rows) - start)
            duration = 800 + 3 * n
            clock += duration / 1000.0
            lines.append(
                {
                    "ts": clock,
                    "event": "batch",
                    "stream": stream,
                    "batch_id": batch_id,
                    "input_rows": n,
                    "input_rows_per_second": 0.0,
                    "processed_rows_per_second": round(n / (duration / 1000.0), 1),
                    "batch_duration_ms": duration,
                    "duration_ms": {"triggerExecution": duration},
                    "valid": n - n // 50 - n // 100,
                    "quarantined": n // 50,
                    "duplicates": n // 100,
                }
            )
    return lines


def report_data(journey: Journey, *, metrics: bool = True, incidents: bool = True):
    """The ReportData the report would gather if the lake held exactly the journey (and its rejects)."""
    from smartcity.report.athena import QueryTiming
    from smartcity.report.model import ReportData
    from smartcity.report.shaping import (
        CAMERA_COLUMNS,
        INCIDENT_COLUMNS,
        TRACK_COLUMNS,
        WEATHER_COLUMNS,
        batch_frame,
        frame,
        quarantine_by_stream,
        reconciliation,
    )
    from smartcity.report.sources import CrawlerTiming, report_by_stream

    run = journey.run_report()
    return ReportData(
        run=run,
        generated_at=datetime.now(UTC),
        database="smartcity",
        tables=list(journey.records),
        reconciliation=reconciliation(
            report_by_stream(run), journey.counts, quarantine_by_stream(journey.quarantine_rows(), journey.prefix)
        ),
        tracks=frame(journey.tracks(), TRACK_COLUMNS),
        weather=frame(journey.weather(), WEATHER_COLUMNS),
        incidents=frame(journey.incidents() if incidents else [], INCIDENT_COLUMNS),
        cameras=frame(journey.cameras(), CAMERA_COLUMNS),
        batches=batch_frame(metrics_lines(journey) if metrics else []),
        job_summary=None,
        crawlers=[
            CrawlerTiming("smartcity_lake_data", "READY", "SUCCEEDED", "2025-03-01T06:00:00+00:00", 4.2, 4.0, 5, 0),
            CrawlerTiming("smartcity_lake_quarantine", "missing", None, None, None, None, None, None),
        ],
        queries=[QueryTiming("rows per stream", "q-1", "SUCCEEDED", 420, 300, 20, 50, 12_345, 5)],
    )
