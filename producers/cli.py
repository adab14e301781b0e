"""``python -m producers`` / ``smartcity produce``: the command line of the producer (see HELP below).

Argument and configuration errors become one ``click`` usage error (exit 2), operational failures one
``error:`` line (exit 1); neither prints a traceback.
"""

from __future__ import annotations

import secrets
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, TaskID, TextColumn, TimeElapsedColumn
from rich.progress import Progress as RichProgress
from rich.table import Table

from producers.badrecords import BadKind
from producers.kafka_io import ProducerError
from producers.report import RunReport
from producers.run import ProducerOptions, ProducerRun, Progress
from producers.simulator import PERIODIC_STREAMS, SimConfig, estimate_events, utc_now_seconds
from smartcity.contracts.records import CONTRACTS

HELP = """Simulate a fleet driving Antipolo to Baguio and produce its five streams into Kafka.

\b
Examples:
  python -m producers --vehicles 5 --speed-up 60     # the 3.5 h journey in about 4 minutes
  python -m producers --vehicles 2 --real-time --duration 600
  python -m producers --vehicles 100 --seed 7 --max-events 100000 --bad-record-rate 0.01

Exit codes: 0 done (also after SIGINT/SIGTERM: what was handed over is flushed and accounted for);
1 operational failure (broker or S3 unreachable, deliveries failed; the report says what got through);
2 invalid arguments or configuration.
"""

app = typer.Typer(add_completion=False, help=HELP, rich_markup_mode=None, subcommand_metavar="")
err_console = Console(stderr=True, highlight=False)

# pydantic field → CLI option, for error messages
_OPTION_NAMES = {
    "vehicles": "--vehicles",
    "seed": "--seed",
    "start_time": "--start-time",
    "departure_interval_s": "--departure-interval",
    "cadence_s": "--cadence",
    "camera_spacing_km": "--camera-spacing-km",
    "emergency_rate_per_hour": "--emergency-rate",
    "streams": "--streams",
    "images_bucket": "--images-bucket",
    "bootstrap_servers": "--bootstrap-servers",
    "partitions": "--partitions",
    "replication_factor": "--replication-factor",
    "retention_hours": "--retention-hours",
    "compression": "--compression",
    "linger_ms": "--linger-ms",
    "batch_messages": "--batch-messages",
    "delivery_timeout_s": "--delivery-timeout",
    "connect_attempts": "--connect-attempts",
    "connect_timeout_s": "--connect-timeout",
    "speed_up": "--speed-up",
    "max_events": "--max-events",
    "duration_s": "--duration",
    "bad_record_rate": "--bad-record-rate",
    "bad_kinds": "--bad-kinds",
    "late_by_s": "--late-by",
    "snapshot_concurrency": "--snapshot-concurrency",
    "lake_bucket": "--lake-bucket",
    "run_id": "--run-id",
}


class BarProgress(Progress):
    """A rich progress bar on stderr (only on a terminal)."""

    def __init__(self, console: Console, estimate: int) -> None:
        self.console = console
        self.estimate = estimate
        self.bar = RichProgress(
            TextColumn("[bold]producing"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]}"),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        )
        self.task: TaskID | None = None
        self.started = 0.0

    def start(self, total: int | None) -> None:
        self.started = time.monotonic()
        self.bar.start()
        self.task = self.bar.add_task("events", total=total or self.estimate, rate="")

    def update(self, events: int) -> None:
        if self.task is not None:
            elapsed = max(time.monotonic() - self.started, 1e-9)
            self.bar.update(self.task, completed=events, rate=f"{events / elapsed:,.0f} ev/s")

    def stop(self) -> None:
        self.bar.stop()

    def log(self, message: str) -> None:
        self.console.print(f"· {message}")


class PlainProgress(Progress):
    def __init__(self, console: Console) -> None:
        self.console = console

    def log(self, message: str) -> None:
        self.console.print(f"· {message}")


def _bad_parameter(exc: ValidationError) -> typer.BadParameter:
    error = exc.errors()[0]
    field = str(error["loc"][0]) if error["loc"] else ""
    message = error["msg"].removeprefix("Value error, ")
    return typer.BadParameter(message, param_hint=f"'{_OPTION_NAMES.get(field, field)}'")


def _split(values: str | None) -> list[str]:
    return [item.strip() for item in (values or "").split(",") if item.strip()]


def _parse_cadence(values: list[str]) -> dict[str, float]:
    cadence = {}
    for item in values:
        stream, _, seconds = item.partition("=")
        try:
            cadence[stream.strip()] = float(seconds)
        except ValueError:
            raise typer.BadParameter(
                f"expected STREAM=SECONDS (streams: {', '.join(PERIODIC_STREAMS)}), got {item!r}",
                param_hint="'--cadence'",
            ) from None
    return cadence


def _parse_bad_kinds(value: str | None) -> tuple[BadKind, ...]:
    names = _split(value)
    if not names:
        return tuple(BadKind)
    unknown = [name for name in names if name not in BadKind.__members__.values()]
    if unknown:
        raise typer.BadParameter(
            f"unknown kind(s) {', '.join(unknown)}; known: {', '.join(BadKind)}", param_hint="'--bad-kinds'"
        )
    return tuple(BadKind(name) for name in names)


def _parse_start(value: str | None) -> datetime:
    if value is None:
        return utc_now_seconds()
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"not an ISO-8601 date-time: {value!r}", param_hint="'--start-time'") from None
    if moment.tzinfo is None:
        raise typer.BadParameter(f"needs a zone, e.g. {value}Z or {value}+08:00", param_hint="'--start-time'")
    return moment


def _summary(report: RunReport) -> Table:
    table = Table(title=f"run {report.run_id}: {report.status} ({report.stop_reason})")
    for column in ("topic", "produced", "acknowledged", "failed", "good", "injected", "first event", "last event"):
        table.add_column(column, justify="right" if column not in ("topic", "first event", "last event") else "left")
    for topic, counts in [*report.topics.items(), ("total", report.totals)]:
        table.add_row(
            topic,
            f"{counts.produced:,}",
            f"{counts.acknowledged:,}",
            f"{counts.failed:,}",
            f"{counts.good_acknowledged:,}",
            f"{sum(counts.injected.values()):,}",
            counts.first_event_time or "",
            counts.last_event_time or "",
        )
    return table


@app.callback(invoke_without_command=True)
def produce(
    vehicles: Annotated[int, typer.Option("--vehicles", "-n", help="fleet size")] = 5,
    seed: Annotated[int | None, typer.Option(help="random seed (default: random, printed and reported)")] = None,
    start_time: Annotated[str | None, typer.Option(help="journey start, ISO-8601 with zone (default: now)")] = None,
    departure_interval: Annotated[float, typer.Option(help="seconds between departures")] = 120.0,
    cadence: Annotated[
        list[str] | None,
        typer.Option(help="STREAM=SECONDS, repeatable (default vehicle_data=30 gps_data=30 weather_data=60)"),
    ] = None,
    camera_spacing_km: Annotated[float, typer.Option(help="distance between traffic cameras")] = 5.0,
    emergency_rate: Annotated[float, typer.Option(help="incidents per vehicle per driving hour")] = 0.2,
    streams: Annotated[str | None, typer.Option(help="comma-separated streams (default: all five)")] = None,
    speed_up: Annotated[
        float | None, typer.Option(help="journey seconds per wall-clock second (default: as fast as possible)")
    ] = None,
    real_time: Annotated[bool, typer.Option("--real-time", help="pace events in real time (= --speed-up 1)")] = False,
    max_events: Annotated[int | None, typer.Option(help="stop after this many simulated events")] = None,
    duration: Annotated[float | None, typer.Option(help="stop after this many wall-clock seconds")] = None,
    bad_record_rate: Annotated[float, typer.Option(help="probability of adding a bad record after a good one")] = 0.0,
    bad_kinds: Annotated[str | None, typer.Option(help=f"comma-separated subset of: {', '.join(BadKind)}")] = None,
    late_by: Annotated[float, typer.Option(help="seconds a 'late' record's event_time lags behind")] = 3600.0,
    bootstrap_servers: Annotated[
        str | None, typer.Option(help="Kafka bootstrap servers (default: KAFKA_BOOTSTRAP_SERVERS / the stack)")
    ] = None,
    partitions: Annotated[int, typer.Option(help="partitions of topics created")] = 3,
    replication_factor: Annotated[int, typer.Option(help="replication factor of topics created")] = 1,
    retention_hours: Annotated[float, typer.Option(help="retention of topics created")] = 168.0,
    compression: Annotated[str, typer.Option(help="none, gzip, snappy, lz4 or zstd")] = "lz4",
    linger_ms: Annotated[int, typer.Option(help="producer linger.ms")] = 20,
    batch_messages: Annotated[int, typer.Option(help="messages per produce_batch call")] = 1000,
    delivery_timeout: Annotated[float, typer.Option(help="seconds before an undeliverable message fails")] = 30.0,
    connect_attempts: Annotated[int, typer.Option(help="attempts to reach the broker at start")] = 3,
    connect_timeout: Annotated[float, typer.Option(help="seconds each attempt waits for the broker")] = 5.0,
    snapshot_concurrency: Annotated[int, typer.Option(help="parallel snapshot uploads (1-10)")] = 8,
    images_bucket: Annotated[str | None, typer.Option(help="bucket for camera snapshots")] = None,
    lake_bucket: Annotated[str | None, typer.Option(help="lake bucket (the report goes to reports/)")] = None,
    report: Annotated[Path | None, typer.Option(help="report path (default: <data dir>/reports/<run id>.json)")] = None,
    report_upload: Annotated[bool, typer.Option(help="also upload the report to the lake bucket")] = True,
    run_id: Annotated[str | None, typer.Option(help="run id (default: time + random)")] = None,
    progress: Annotated[bool | None, typer.Option(help="progress bar (default: on a terminal)")] = None,
) -> None:
    """Simulate the fleet and produce its five streams into Kafka; write the run report."""
    from smartcity.settings import Settings

    try:
        settings = Settings()
    except ValidationError as exc:
        raise typer.BadParameter(str(exc).splitlines()[0], param_hint="environment") from None
    if real_time and speed_up is not None:
        raise typer.BadParameter("use either --real-time or --speed-up", param_hint="'--real-time'")
    chosen_seed = seed if seed is not None else secrets.randbelow(2**31)
    try:
        sim = SimConfig(
            vehicles=vehicles,
            seed=chosen_seed,
            start_time=_parse_start(start_time),
            departure_interval_s=departure_interval,
            cadence_s=_parse_cadence(cadence or []),
            camera_spacing_km=camera_spacing_km,
            emergency_rate_per_hour=emergency_rate,
            streams=tuple(_split(streams)) or tuple(CONTRACTS),
            images_bucket=images_bucket or settings.images_bucket,
        )
        option_values: dict[str, Any] = {
            "bootstrap_servers": bootstrap_servers or settings.kafka_bootstrap,
            "partitions": partitions,
            "replication_factor": replication_factor,
            "retention_hours": retention_hours,
            "compression": compression,
            "linger_ms": linger_ms,
            "batch_messages": batch_messages,
            "delivery_timeout_s": delivery_timeout,
            "connect_attempts": connect_attempts,
            "connect_timeout_s": connect_timeout,
            "speed_up": 1.0 if real_time else speed_up,
            "max_events": max_events,
            "duration_s": duration,
            "bad_record_rate": bad_record_rate,
            "bad_kinds": _parse_bad_kinds(bad_kinds),
            "late_by_s": late_by,
            "snapshot_concurrency": snapshot_concurrency,
            "lake_bucket": lake_bucket or settings.lake_bucket,
            "upload_report": report_upload,
        }
        if run_id is not None:
            option_values["run_id"] = run_id
        options = ProducerOptions(**option_values)
    except ValidationError as exc:
        raise _bad_parameter(exc) from None
    if report is None:
        report = settings.data_dir / "reports" / f"{options.run_id}.json"
    options = options.model_copy(update={"report_path": report})

    show_bar = sys.stderr.isatty() if progress is None else progress
    ui = BarProgress(err_console, estimate_events(sim)) if show_bar else PlainProgress(err_console)
    err_console.print(
        f"run {options.run_id}: {sim.vehicles} vehicle(s), seed {sim.seed}, journey from "
        f"{sim.start_time.isoformat()}, to {options.bootstrap_servers}"
    )
    run = ProducerRun(
        sim, options, s3_factory=lambda: settings.boto3_client("s3"), region=settings.aws_region, progress=ui
    )
    try:
        result = run.execute()
    except KeyboardInterrupt:  # only possible before producing starts (then SIGINT stops cleanly)
        err_console.print("interrupted before producing anything")
        raise typer.Exit(130) from None
    except ProducerError as exc:
        if run.report.finished_at is not None:
            err_console.print(_summary(run.report))
            err_console.print(f"report: {options.report_path}")
        err_console.print(f"[bold red]error:[/] {exc}")
        raise typer.Exit(1) from None
    err_console.print(_summary(result))
    err_console.print(f"report: {options.report_path}" + (f" and {result.report_uri}" if result.report_uri else ""))
