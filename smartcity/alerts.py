"""Pipeline alerts on this machine: a JSON-lines log in the data directory and ``smartcity alerts``.

Airflow's notifiers (``plugins.notifiers``) append one line per alert — a failed DAG run, a journey past its
deadline — to ``$SMARTCITY_DATA_DIR/alerts/alerts.jsonl``; ``smartcity alerts`` shows them. On AWS the same
notifiers also publish to SNS or send e-mail (``SMARTCITY_ALERT_SNS_TOPIC_ARN``, ``SMARTCITY_ALERT_EMAIL``).
"""

from __future__ import annotations

import json
import os
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Literal

import typer
from pydantic import BaseModel, Field, ValidationError
from rich.console import Console
from rich.table import Table

from smartcity.settings import Settings, get_settings

AlertKind = Literal["dag_failed", "deadline_missed"]


class Alert(BaseModel):
    """One alert, as written to the log (one JSON object per line)."""

    time: datetime = Field(default_factory=lambda: datetime.now(UTC))
    kind: AlertKind
    dag_id: str
    run_id: str | None = None
    task_id: str | None = Field(default=None, description="the failed task, when one is known")
    message: str
    url: str | None = Field(default=None, description="where to look in the Airflow UI")

    def summary(self) -> str:
        where = f"{self.dag_id} / {self.run_id}" if self.run_id else self.dag_id
        return f"[{self.kind}] {where}: {self.message}"


def alerts_path(settings: Settings | None = None) -> Path:
    return (settings or get_settings()).data_dir / "alerts" / "alerts.jsonl"


def record_alert(alert: Alert, settings: Settings | None = None) -> Path:
    """Append ``alert`` as one line; safe with several writers (one ``O_APPEND`` write per line)."""
    path = alerts_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    line = alert.model_dump_json().encode() + b"\n"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)
    return path


def read_alerts(settings: Settings | None = None) -> tuple[list[Alert], int]:
    """All alerts in the log, oldest first, and how many lines could not be read."""
    path = alerts_path(settings)
    try:
        lines = path.read_text(errors="replace").splitlines()
    except FileNotFoundError:
        return [], 0
    alerts, unreadable = [], 0
    for line in lines:
        if not line.strip():
            continue
        try:
            alerts.append(Alert.model_validate_json(line))
        except ValidationError:
            unreadable += 1
    return alerts, unreadable


# --- `smartcity alerts` -------------------------------------------------------------------------------------
app = typer.Typer(help="Pipeline alerts raised by Airflow (failed runs, missed deadlines).")
console = Console()


def _table(alerts: list[Alert]) -> Table:
    table = Table(title="smartcity alerts", show_lines=False)
    for column in ("time (UTC)", "kind", "DAG / run", "task", "message"):
        table.add_column(column, overflow="fold")
    for alert in alerts:
        table.add_row(
            alert.time.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S"),
            f"[red]{alert.kind}[/]" if alert.kind == "dag_failed" else f"[yellow]{alert.kind}[/]",
            f"{alert.dag_id}\n[dim]{alert.run_id or ''}[/]",
            alert.task_id or "-",
            alert.message + (f"\n[dim]{alert.url}[/]" if alert.url else ""),
        )
    return table


@app.callback(invoke_without_command=True)
def show(
    last: Annotated[int, typer.Option("-n", "--last", min=1, help="how many of the latest alerts")] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="one JSON object per line")] = False,
    follow: Annotated[bool, typer.Option("-f", "--follow", help="keep printing new alerts")] = False,
) -> None:
    """Show the latest alerts (from $SMARTCITY_DATA_DIR/alerts/alerts.jsonl)."""
    settings = get_settings()
    shown = 0
    while True:
        alerts, unreadable = read_alerts(settings)
        new = alerts[shown:] if shown else alerts[-last:]
        shown = len(alerts)
        if as_json:
            for alert in new:
                typer.echo(alert.model_dump_json())
        elif new:
            console.print(_table(new))
        elif not follow:
            console.print(f"no alerts ({alerts_path(settings)})")
        if unreadable and not follow:
            console.print(f"[yellow]{unreadable} unreadable line(s) skipped in {alerts_path(settings)}[/]")
        if not follow:
            return
        time.sleep(1)


def format_for_humans(alert: Alert) -> str:
    """Plain-text body for e-mail/SNS."""
    return json.dumps(alert.model_dump(mode="json"), indent=2)
