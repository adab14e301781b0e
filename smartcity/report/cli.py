"""``smartcity report``: render a journey's report page (mounted in ``smartcity.cli``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

app = typer.Typer(
    help="Render the report of one journey run as an HTML page with PNG figures (no network needed to view).",
    subcommand_metavar="",  # one command: `smartcity report [OPTIONS]`
    add_completion=False,
)
console = Console()
err_console = Console(stderr=True, highlight=False)


@app.callback(invoke_without_command=True)
def report(
    run_id: Annotated[
        str | None, typer.Option("--run-id", help="the producer run (journey) id; default: the newest in the lake")
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            file_okay=False,
            help="folder for index.html and its figures (default: <data dir>/reports/<run id>)",
        ),
    ] = None,
    report_file: Annotated[
        Path | None,
        typer.Option(
            "--report-file", exists=True, dir_okay=False, help="a local run report instead of the lake's copy"
        ),
    ] = None,
    metrics_file: Annotated[
        Path | None,
        typer.Option("--metrics-file", dir_okay=False, help="the streaming job's --metrics-file JSON lines"),
    ] = None,
    summary_file: Annotated[
        Path | None,
        typer.Option("--summary-file", dir_okay=False, help="the streaming job's --summary-file JSON"),
    ] = None,
) -> None:
    """The route with each vehicle's track, incidents and cameras; speed, temperature and air quality;
    produced vs landed vs quarantined per stream (counted by Athena); streaming throughput and batch
    latency; crawler and query timings. Prints the page's path."""
    from smartcity.report.errors import ReportError
    from smartcity.report.render import render_run_report
    from smartcity.settings import get_settings

    def say(message: str) -> None:
        err_console.print(f"[dim]·[/] {message}", soft_wrap=True)

    try:
        page = render_run_report(
            get_settings(),
            run_id,
            out,
            report_file=report_file,
            metrics_file=metrics_file,
            summary_file=summary_file,
            say=say,
        )
    except ReportError as exc:
        err_console.print(f"[bold red]error:[/] {exc}", soft_wrap=True)
        raise typer.Exit(1) from exc
    console.print(f"report: {page}", highlight=False, soft_wrap=True)
