"""One call from run id to page: gather, draw, write."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from smartcity.report.errors import ReportError
from smartcity.report.figures import draw_all
from smartcity.report.gather import gather
from smartcity.report.model import ReportData
from smartcity.report.page import write_page
from smartcity.report.sources import local_reports_dir
from smartcity.settings import Settings


def _nothing(_message: str) -> None:
    pass


def default_out_dir(settings: Settings, run_id: str) -> Path:
    return local_reports_dir(settings) / run_id


def write_report(data: ReportData, out_dir: Path) -> Path:
    """Draw the figures and write the page for already gathered data; returns the page's path."""
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ReportError(f"cannot create the report folder {out_dir}: {exc.strerror or exc}") from exc
    figures = draw_all(data, out_dir)
    return write_page(data, figures, out_dir)


def render_run_report(
    settings: Settings,
    run_id: str | None = None,
    out_dir: Path | None = None,
    *,
    report_file: Path | None = None,
    metrics_file: Path | None = None,
    summary_file: Path | None = None,
    say: Callable[[str], None] = _nothing,
) -> Path:
    """Render the journey report of ``run_id`` (default: the newest run in the lake); return its ``index.html``.

    ``out_dir`` defaults to ``<data dir>/reports/<run_id>/``; the PNG figures are written beside the page.
    The streaming job's metrics and summary default to ``<data dir>/reports/<run_id>.metrics.jsonl`` and
    ``.spark-summary.json``. Expected problems (no run report, Athena failing, unreadable inputs) raise
    :class:`ReportError` with a message that says what and where.
    """
    data = gather(
        settings, run_id, report_file=report_file, metrics_file=metrics_file, summary_file=summary_file, say=say
    )
    return write_report(data, out_dir or default_out_dir(settings, data.run_id))
