"""The ``smartcity`` command line."""

from __future__ import annotations

import json
import subprocess
import time
from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from producers.cli import app as produce_app
from smartcity.alerts import app as alerts_app
from smartcity.aws.cli import app as aws_app
from smartcity.contracts.records import CONTRACTS
from smartcity.demo import demo
from smartcity.kafka_client import confluent_config
from smartcity.report.cli import app as report_app
from smartcity.settings import get_settings
from smartcity.stack.environment import export_lines
from smartcity.stack.errors import StackError
from smartcity.stack.runner import ServiceStatus, Stack
from smartcity.stack.streaming_status import (
    TopicLag,
    checkpoint_progress,
    find_checkpoints,
    kafka_end_offsets,
    topic_lags,
)

app = typer.Typer(help="smartcity: a real-time IoT vehicle-tracking data platform.", no_args_is_help=True)
stack_app = typer.Typer(help="The embedded local stack (Kafka, SeaweedFS S3, Spark, ...).", no_args_is_help=True)
app.add_typer(stack_app, name="stack")
app.add_typer(aws_app, name="aws")
app.add_typer(produce_app, name="produce")
app.add_typer(alerts_app, name="alerts")
app.add_typer(report_app, name="report")

console = Console()
err_console = Console(stderr=True)


def _fail(exc: StackError) -> typer.Exit:
    err_console.print(f"[bold red]error:[/] {exc}", highlight=False)
    return typer.Exit(1)


def _stack() -> Stack:
    return Stack(get_settings())


def _say(message: str) -> None:
    err_console.print(f"[dim]·[/] {message}", highlight=False)


@app.command()
def setup() -> None:
    """Fetch what the stack needs once (Kafka and Spark connector jars from Maven Central)."""
    try:
        _stack().setup(_say)
    except StackError as exc:
        raise _fail(exc) from exc
    console.print("setup done")


@stack_app.command("up")
def stack_up() -> None:
    """Start every service that is not running (idempotent) and wait until each answers."""
    started = time.monotonic()
    try:
        timings = _stack().up(_say)
    except StackError as exc:
        raise _fail(exc) from exc
    console.print(f"stack up in {time.monotonic() - started:.1f} s: " + ", ".join(timings))


@stack_app.command("down")
def stack_down() -> None:
    """Stop every service and the process manager."""
    try:
        _stack().down(_say)
    except StackError as exc:
        raise _fail(exc) from exc
    console.print("stack down")


@stack_app.command("status")
def stack_status(
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
) -> None:
    """Each service: state, PID, ports, health."""
    try:
        statuses = _stack().status()
    except StackError as exc:
        raise _fail(exc) from exc
    streaming = _streaming_lags(statuses)
    if as_json:
        document = {"services": [s.as_dict() for s in statuses], "streaming": [t.as_dict() for t in streaming]}
        typer.echo(json.dumps(document, indent=2))
        return
    table = Table(title="smartcity stack")
    for column in ("service", "state", "pid", "ports", "health", "uptime"):
        table.add_column(column)
    for s in statuses:
        table.add_row(
            s.name,
            s.state,
            str(s.pid or "-"),
            ", ".join(f"{label} {port}" for label, port in s.ports.items()),
            "[green]ok[/]" if s.healthy else ("[red]down[/]" if s.state == "RUNNING" else "-"),
            f"{s.uptime_s} s" if s.uptime_s is not None else "-",
        )
    console.print(table)
    if streaming:
        console.print(_streaming_table(streaming))
    settings = get_settings()
    if any(s.name.startswith("airflow") and s.state == "RUNNING" for s in statuses):
        console.print(
            f"Airflow UI: {settings.airflow_base_url}  login: {settings.airflow_user} / {settings.admin_password}",
            highlight=False,
        )


def _streaming_lags(statuses: list[ServiceStatus]) -> list[TopicLag]:
    """The streaming job's lag per topic from its checkpoints (empty before the job first ran)."""
    settings = get_settings()
    checkpoints = find_checkpoints(settings.spark_checkpoint_dir)
    if not checkpoints:
        return []
    kafka_up = any(s.name == "kafka" and s.healthy for s in statuses)
    topics = [contract.topic for contract in CONTRACTS.values()]
    end = kafka_end_offsets(confluent_config(settings), topics) if kafka_up else None
    progress = [p for p in (checkpoint_progress(c) for c in checkpoints) if p is not None]
    return topic_lags(progress, end, topics)


def _streaming_table(lags: list[TopicLag]) -> Table:
    table = Table(title="streaming job (from its checkpoints)")
    for column in ("topic", "written up to", "kafka end", "lag", "last batch"):
        table.add_column(column)
    now = datetime.now(UTC)
    for lag in lags:
        age = f"{(now - lag.last_batch_at).total_seconds():.0f} s ago" if lag.last_batch_at else "-"
        table.add_row(
            lag.topic,
            "-" if lag.committed is None else str(lag.committed),
            "?" if lag.end is None else str(lag.end),
            "?" if lag.lag is None else str(lag.lag),
            f"{lag.last_batch_at:%Y-%m-%d %H:%M:%S} UTC ({age})" if lag.last_batch_at else "-",
        )
    return table


@stack_app.command("logs")
def stack_logs(
    service: str,
    lines: Annotated[int, typer.Option("-n", "--lines", help="how many lines from the end")] = 50,
    follow: Annotated[bool, typer.Option("-f", "--follow", help="keep printing new lines")] = False,
) -> None:
    """Print the log of one service."""
    try:
        path = _stack().log_path(service)
    except StackError as exc:
        raise _fail(exc) from exc
    if not path.exists():
        raise _fail(StackError(f"{service} has no log yet ({path}); has the stack been started?"))
    cmd = ["tail", "-n", str(lines), *(["-F"] if follow else []), str(path)]
    raise typer.Exit(subprocess.call(cmd))


@stack_app.command("reset")
def stack_reset(yes: Annotated[bool, typer.Option("--yes", "-y", help="do not ask")] = False) -> None:
    """Stop the stack and delete its data directory (topics, lake, catalog, secrets). Jars stay cached."""
    stack = _stack()
    if not yes and not typer.confirm(f"Delete everything in {stack.settings.data_dir}?"):
        raise typer.Exit(1)
    try:
        stack.reset()
    except StackError as exc:
        raise _fail(exc) from exc
    console.print(f"deleted {stack.settings.data_dir}")


@stack_app.command("env")
def stack_env() -> None:
    """Print `export` lines that point boto3, the AWS CLI, Kafka clients and spark-submit at the stack.

    Use as: eval "$(smartcity stack env)"
    """
    try:
        env = _stack().env()
    except StackError as exc:
        raise _fail(exc) from exc
    typer.echo(export_lines(env), nl=False)


@app.command()
def smoke(
    messages: Annotated[int, typer.Option(min=1, help="how many messages to push through")] = 1000,
) -> None:
    """Smoke pipeline on the running stack: produce to Kafka, Spark writes Parquet to S3, read back, count."""
    from smartcity.stack.smoke import run_smoke

    try:
        result = run_smoke(get_settings(), messages, _say)
    except StackError as exc:
        raise _fail(exc) from exc
    console.print(result.summary())
    if not result.ok:
        raise typer.Exit(1)


app.command("demo")(demo)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
