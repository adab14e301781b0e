"""Collecting one run's report data: the run report, Athena over the lake, the job's metrics, the crawlers."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from plugins.lake import JourneyScope, quarantine_counts_sql, row_counts_sql
from smartcity.report import queries
from smartcity.report.athena import Athena
from smartcity.report.errors import ReportError
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
from smartcity.report.sources import (
    catalog_tables,
    crawler_timings,
    default_metrics_file,
    default_summary_file,
    load_run_report,
    read_metrics,
    read_summary,
    report_by_stream,
    topic_prefix,
)
from smartcity.settings import Settings


def _nothing(_message: str) -> None:
    pass


def gather(
    settings: Settings,
    run_id: str | None = None,
    *,
    report_file: Path | None = None,
    metrics_file: Path | None = None,
    summary_file: Path | None = None,
    say: Callable[[str], None] = _nothing,
) -> ReportData:
    """Everything the page shows for one run (the newest run in the lake if ``run_id`` is None)."""
    run = load_run_report(settings, run_id, report_file)
    say(f"run {run.run_id}: {run.status}, {run.totals.produced:,} messages produced")
    report = report_by_stream(run)
    scope = JourneyScope.from_report(report)
    notes: list[str] = []

    tables = catalog_tables(settings)
    athena = Athena(settings)
    if tables:
        lake_rows = {
            row["stream"]: int(row["row_count"])
            for row in athena.query("rows per stream", row_counts_sql(tables, scope))
            if row["stream"] is not None
        }
        quarantined = quarantine_by_stream(
            athena.query("quarantined rows per stream and reason", quarantine_counts_sql(tables, scope)),
            topic_prefix(run),
        )
    else:
        notes.append(f"The Glue database {settings.glue_database} has no tables yet: the lake has not been crawled.")
        lake_rows, quarantined = {}, {}
    say(f"reconciled {len(report['topics'])} streams against Athena")

    def expected(stream: str) -> int:
        return int(report["topics"].get(stream, {}).get("expected_valid", 0))

    def rows_of(stream: str, label: str, sql: str, columns: list[str]):
        if stream not in tables:
            return frame([], columns)
        return frame(athena.query(label, sql), columns)

    tracks = rows_of(
        "vehicle_data",
        "vehicle tracks",
        queries.tracks_sql(scope, queries.step_for(expected("vehicle_data"), queries.TRACK_POINTS)),
        TRACK_COLUMNS,
    )
    weather = rows_of(
        "weather_data",
        "weather along the route",
        queries.weather_sql(scope, queries.step_for(expected("weather_data"), queries.WEATHER_POINTS)),
        WEATHER_COLUMNS,
    )
    incidents = rows_of("emergency_data", "incidents", queries.incidents_sql(scope), INCIDENT_COLUMNS)
    cameras = rows_of("traffic_data", "cameras", queries.cameras_sql(scope), CAMERA_COLUMNS)
    say(f"journey data: {len(tracks):,} track points, {len(incidents):,} incidents, {len(cameras):,} cameras")

    metrics_file = metrics_file or default_metrics_file(settings, run.run_id)
    if metrics_file.exists():
        batches = batch_frame(read_metrics(metrics_file), str(metrics_file))
    else:
        batches = batch_frame([])
        notes.append(
            f"No streaming metrics at {metrics_file}: run the streaming job with --metrics-file there "
            "to see throughput and batch latency."
        )
    summary_file = summary_file or default_summary_file(settings, run.run_id)
    job_summary = read_summary(summary_file) if summary_file.exists() else None

    # Timings are context, not the report's substance: without the permissions for them the page still renders.
    try:
        crawlers = crawler_timings(settings)
    except ReportError as exc:
        crawlers = []
        notes.append(f"Crawler timings are not available: {exc}")
    try:
        pipeline_queries = athena.history(run.started_at)
    except ReportError as exc:
        pipeline_queries = []
        notes.append(f"The pipeline's Athena queries are not available: {exc}")

    return ReportData(
        run=run,
        generated_at=datetime.now(UTC),
        database=settings.glue_database,
        tables=sorted(tables),
        reconciliation=reconciliation(report, lake_rows, quarantined),
        tracks=tracks,
        weather=weather,
        incidents=incidents,
        cameras=cameras,
        batches=batches,
        job_summary=job_summary,
        crawlers=crawlers,
        queries=pipeline_queries + athena.timings,
        metrics_file=metrics_file,
        summary_file=summary_file if job_summary is not None else None,
        notes=notes,
    )
