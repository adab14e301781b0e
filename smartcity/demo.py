"""``smartcity demo``: the whole platform in one command, driven through Airflow like a user would.

Stack up -> trigger ``smartcity_journey`` over Airflow's REST API -> live progress (tasks, events in Kafka,
rows landed in the lake) -> the validation summary, the UI address and the login. Exit status 1 when the run
fails (a failed check or reconciliation, a service down), with the reason.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

import typer
from rich.console import Console, Group
from rich.live import Live
from rich.panel import Panel
from rich.table import Table

from smartcity.airflow_client import TERMINAL_RUN_STATES, AirflowClient, AirflowError
from smartcity.contracts.records import CONTRACTS
from smartcity.kafka_client import security_config
from smartcity.settings import Settings, get_settings
from smartcity.stack.errors import StackError
from smartcity.stack.runner import Stack

DAG_ID = "smartcity_journey"
console = Console()
err_console = Console(stderr=True)


@dataclass
class Progress:
    """What the live view shows; refreshed from Airflow, Kafka and the streaming job's metrics."""

    run: dict[str, Any] = field(default_factory=dict)
    tasks: list[dict[str, Any]] = field(default_factory=list)
    events_in_kafka: int | None = None
    rows_landed: int = 0
    rows_quarantined: int = 0
    started: float = field(default_factory=time.monotonic)

    def view(self) -> Panel:
        states: dict[str, int] = {}
        for ti in self.tasks:
            states[ti["state"] or "waiting"] = states.get(ti["state"] or "waiting", 0) + 1
        running = sorted({ti["task_id"] for ti in self.tasks if ti["state"] in ("running", "queued", "deferred")})
        table = Table.grid(padding=(0, 2))
        table.add_row("run", f"{self.run.get('dag_run_id', '-')}  [bold]{self.run.get('state', 'queued')}[/]")
        table.add_row("tasks", "  ".join(f"{state}: {n}" for state, n in sorted(states.items())) or "-")
        table.add_row("running", ", ".join(running) or "-")
        table.add_row("events in Kafka", "-" if self.events_in_kafka is None else f"{self.events_in_kafka:,}")
        table.add_row("rows landed", f"{self.rows_landed:,} in the lake, {self.rows_quarantined:,} quarantined")
        table.add_row("elapsed", f"{time.monotonic() - self.started:.0f} s")
        return Panel(table, title="smartcity journey", border_style="cyan")


def _kafka_events(bootstrap: str, baseline: dict[tuple[str, int], int]) -> int | None:
    """Messages appended to the five topics since ``baseline`` (high watermarks), None if Kafka is silent."""
    offsets = _high_watermarks(bootstrap)
    if offsets is None:
        return None
    return sum(high - baseline.get(key, 0) for key, high in offsets.items())


def _high_watermarks(bootstrap: str) -> dict[tuple[str, int], int] | None:
    from confluent_kafka import Consumer, KafkaException, TopicPartition

    consumer = Consumer(
        {**security_config(), "bootstrap.servers": bootstrap, "group.id": "smartcity-demo-progress", "log_level": 0}
    )
    try:
        metadata = consumer.list_topics(timeout=2)
        result = {}
        for topic in CONTRACTS:
            for partition in metadata.topics.get(topic).partitions if metadata.topics.get(topic) else {}:
                _, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=2)
                result[(topic, partition)] = high
        return result
    except KafkaException:
        return None
    finally:
        consumer.close()


def _landed(metrics_path: Path | None) -> tuple[int, int]:
    """Rows written and quarantined so far, from the streaming job's per-batch metrics (JSON lines)."""
    if metrics_path is None or not metrics_path.exists():
        return 0, 0
    written = quarantined = 0
    for line in metrics_path.read_text(errors="replace").splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue  # a line being written
        if entry.get("event") == "batch":
            written += int(entry.get("valid", 0))
            quarantined += int(entry.get("quarantined", 0))
    return written, quarantined


def _summary_table(summary: dict[str, Any]) -> Table:
    table = Table(title="validation: lake vs. the producer's report (Athena counts)")
    table.add_column("stream")
    table.add_column("rows in the lake", justify="right")
    for stream in CONTRACTS:
        table.add_row(stream, f"{summary['lake_rows'].get(stream, 0):,}")
    table.add_row("[dim]quarantined (bad records caught)[/]", f"{summary['quarantined_rows']:,}")
    table.add_row("[dim]duplicates dropped[/]", f"{summary['duplicates_dropped']:,}")
    return table


def run_demo(settings: Settings, conf: dict[str, Any], timeout_s: float) -> int:
    """Bring the stack up, run one journey through Airflow, report. Returns the exit status."""
    started = time.monotonic()
    Stack(settings).up(lambda message: err_console.print(f"[dim]·[/] {message}", highlight=False))
    settings = get_settings()  # the stack may have just generated the credentials
    with AirflowClient.from_settings(settings) as airflow:
        airflow.wait_for_dag(DAG_ID)
        airflow.set_paused(DAG_ID, False)
        baseline = _high_watermarks(settings.kafka_bootstrap) or {}
        run_id = airflow.trigger(DAG_ID, conf)["dag_run_id"]
        progress = Progress()
        metrics_path: Path | None = None
        with Live(progress.view(), console=console, refresh_per_second=2, transient=False) as live:
            while True:
                progress.run = airflow.dag_run(DAG_ID, run_id)
                progress.tasks = airflow.task_instances(DAG_ID, run_id)
                if metrics_path is None and _succeeded(progress.tasks, "plan_journey"):
                    metrics_path = Path(airflow.xcom(DAG_ID, run_id, "plan_journey")["spark_metrics_path"])
                progress.events_in_kafka = _kafka_events(settings.kafka_bootstrap, baseline)
                progress.rows_landed, progress.rows_quarantined = _landed(metrics_path)
                live.update(progress.view())
                if progress.run["state"] in TERMINAL_RUN_STATES:
                    break
                if time.monotonic() - progress.started > timeout_s:
                    raise AirflowError(f"the journey is still {progress.run['state']} after {timeout_s:.0f} s")
                time.sleep(2)
        url = f"{settings.airflow_base_url}/dags/{DAG_ID}/runs/{quote(run_id, safe='')}"
        ok = progress.run["state"] == "success"
        if ok:
            console.print(_summary_table(airflow.xcom(DAG_ID, run_id, "reconcile_with_report")))
            console.print(
                "[bold green]validation passed[/]: every record the producer sent is in the lake or quarantine"
            )
        else:
            console.print(f"[bold red]the journey failed[/] ({progress.run['state']}):")
            for ti in progress.tasks:
                if ti["state"] == "failed":
                    console.print(f"[red]{ti['task_id']}[/]: {airflow.task_error(DAG_ID, run_id, ti) or 'see its log'}")
        console.print(
            Group(
                f"Airflow UI: {url}",
                f"login: {settings.airflow_user} / {settings.admin_password}",
                f"alerts: smartcity alerts    elapsed: {time.monotonic() - started:.0f} s",
            )
        )
        return 0 if ok else 1


def _succeeded(tasks: list[dict[str, Any]], task_id: str) -> bool:
    return any(ti["task_id"] == task_id and ti["state"] == "success" for ti in tasks)


def demo(
    vehicles: Annotated[int, typer.Option(min=1, max=500, help="fleet size")] = 5,
    speed_up: Annotated[float, typer.Option(min=0.1, max=3600, help="journey seconds per wall-clock second")] = 60,
    duration: Annotated[int, typer.Option(min=5, max=3600, help="stop producing after this many seconds")] = 120,
    seed: Annotated[int, typer.Option(min=0, help="same seed, same journey")] = 42,
    bad_record_rate: Annotated[float, typer.Option(min=0, max=0.5, help="share of injected bad records")] = 0.01,
    timeout: Annotated[float, typer.Option(help="give up after this many seconds")] = 1800,
) -> None:
    """Start the stack, run one journey through Airflow with live progress, and print the validation."""
    conf = {
        "vehicles": vehicles,
        "speed_up": speed_up,
        "duration": duration,
        "seed": seed,
        "bad_record_rate": bad_record_rate,
    }
    try:
        status = run_demo(get_settings(), conf, timeout)
    except (StackError, AirflowError) as exc:
        err_console.print(f"[bold red]error:[/] {exc}", highlight=False)
        raise typer.Exit(1) from None
    raise typer.Exit(status)
