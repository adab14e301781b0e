"""What one report shows, gathered and shaped; figures and the page are drawn from this alone."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd

from producers.report import RunReport
from smartcity.report.athena import QueryTiming
from smartcity.report.sources import CrawlerTiming


@dataclass(frozen=True)
class ReconRow:
    """One stream of the reconciliation: what the producer sent against what Athena counts in the lake."""

    stream: str
    produced: int  # messages handed to Kafka (good + injected)
    acknowledged: int  # confirmed by the broker
    expected_landed: int  # good records acknowledged
    landed: int  # rows in data/<stream>/ (Athena)
    expected_quarantined: int  # injected bad records acknowledged (duplicates excepted)
    quarantined: int  # rows in quarantine/ for this stream (Athena)
    quarantined_by_reason: dict[str, int]
    duplicates_dropped: int  # injected exact copies the job's dedupe drops
    problems: tuple[str, ...] = ()

    @property
    def unaccounted(self) -> int:
        """Acknowledged messages that are neither landed, quarantined nor an expected duplicate."""
        return self.acknowledged - self.landed - self.quarantined - self.duplicates_dropped

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass
class ReportData:
    run: RunReport
    generated_at: datetime
    database: str
    tables: list[str]
    reconciliation: list[ReconRow]
    tracks: pd.DataFrame  # vehicle_id, t, latitude, longitude, speed_kmh
    weather: pd.DataFrame  # vehicle_id, t, latitude, longitude, altitude_m, temperature_c, air_quality_index
    incidents: pd.DataFrame  # incident_id, incident_type, latitude, longitude, location, t, status_events
    cameras: pd.DataFrame  # camera_id, latitude, longitude, location, snapshots
    batches: pd.DataFrame  # stream, batch_id, t_s, input_rows, processed_rows_per_second, batch_duration_ms
    job_summary: dict[str, Any] | None
    crawlers: list[CrawlerTiming]
    queries: list[QueryTiming]
    metrics_file: Path | None = None
    summary_file: Path | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def run_id(self) -> str:
        return self.run.run_id

    @property
    def reconciled(self) -> bool:
        return all(row.ok for row in self.reconciliation)
