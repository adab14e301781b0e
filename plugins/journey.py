"""Planning one journey run of the ``smartcity_journey`` DAG (pure Python: no Airflow import).

Journeys are compressed in time (``--speed-up``), so a journey's events may lie hours ahead of the wall
clock. The streaming job keeps its event-time watermark across runs, so a journey starting "now" after such
a run would arrive entirely behind the watermark and be quarantined as late. Each journey therefore starts
just after the last event of the journeys before it (found in their run reports in the lake); this also
keeps journeys apart in event time, which is how their rows are told apart in the lake
(``plugins.lake.JourneyScope``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

# Well past the streaming job's 2-minute watermark: a new journey is never "late" for the previous one.
JOURNEY_GAP = timedelta(minutes=5)


def journey_id(airflow_run_id: str) -> str:
    """A run id usable as a file name and S3 key: ``manual__2025-03-01T06:00:00+00:00`` ->
    ``manual__2025-03-01T06-00-00-00-00``."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", airflow_run_id).strip("-.")


def last_event_time(report: Mapping[str, Any]) -> datetime | None:
    """The latest event time of any record a run report accounts for."""
    times = [counts.get("last_event_time") for counts in report.get("topics", {}).values()]
    parsed = [datetime.fromisoformat(t.replace("Z", "+00:00")) for t in times if t]
    return max(parsed) if parsed else None


def next_journey_start(previous_reports: Iterable[Mapping[str, Any]], now: datetime | None = None) -> datetime:
    """Just after the last event of the previous journeys; now if there were none (whole seconds, UTC).

    Always continuing from the previous journey (rather than from now when that lies further ahead) keeps
    the job's watermark close behind the new journey, so its injected ``late`` records, an hour behind
    their neighbours, are late from the first micro-batch on.
    """
    lasts = [t for t in (last_event_time(report) for report in previous_reports) if t is not None]
    start = max(lasts) + JOURNEY_GAP if lasts else (now or datetime.now(UTC))
    return start.astimezone(UTC).replace(microsecond=0)


def report_path(reports_dir: Path, journey: str) -> Path:
    return reports_dir / f"{journey}.json"
