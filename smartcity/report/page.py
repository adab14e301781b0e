"""The self-contained HTML page: inline CSS, figures as PNG files beside it, nothing fetched from anywhere."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from smartcity.report.figures import FIGURES, FigureFile
from smartcity.report.model import ReportData

PAGE_NAME = "index.html"
NONE = "\N{EN DASH}"  # what an absent value shows


def _num(value: Any) -> str:
    if value is None:
        return NONE
    return f"{value:,}" if isinstance(value, int) else f"{value:,.1f}"


def _secs(value: Any) -> str:
    return NONE if value is None else f"{float(value):.2f}"


def _size(value: Any) -> str:
    if value is None:
        return NONE
    size = float(value)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:,.0f} {unit}" if unit == "B" else f"{size:,.1f} {unit}"
        size /= 1024
    return str(value)


def _when(value: Any) -> str:
    if not isinstance(value, datetime):
        return NONE if value is None else str(value)
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def environment() -> Environment:
    env = Environment(
        loader=PackageLoader("smartcity.report", "templates"),
        autoescape=select_autoescape(["html", "j2"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(num=_num, secs=_secs, size=_size, when=_when)
    return env


def render_page(data: ReportData, figures: dict[str, FigureFile]) -> str:
    sections = {name: section for name, _draw, section in FIGURES}
    recon = data.reconciliation
    streams = (data.job_summary or {}).get("streams") or {}
    return (
        environment()
        .get_template("report.html.j2")
        .render(
            run=data.run,
            database=data.database,
            generated_at=data.generated_at,
            reconciled=data.reconciled,
            totals={
                "produced": sum(r.produced for r in recon),
                "landed": sum(r.landed for r in recon),
                "quarantined": sum(r.quarantined for r in recon),
                "duplicates": sum(r.duplicates_dropped for r in recon),
            },
            incidents=len(data.incidents),
            cameras=len(data.cameras),
            notes=data.notes,
            figures=figures,
            journey=[name for name in figures if sections[name] == "journey"],
            reconciliation=recon,
            problems=[p for row in recon for p in row.problems],
            stopped_by=(data.job_summary or {}).get("stopped_by"),
            job_streams=[(s, v) for s, v in streams.items() if isinstance(v, dict)],
            crawlers=data.crawlers,
            queries=data.queries,
            metrics_file=data.metrics_file if len(data.batches) else None,
            summary_file=data.summary_file,
        )
    )


def write_page(data: ReportData, figures: dict[str, FigureFile], out_dir: Path) -> Path:
    """Write ``index.html`` atomically (a browser never sees half a page)."""
    path = out_dir / PAGE_NAME
    partial = path.with_name(path.name + ".partial")
    partial.write_text(render_page(data, figures), encoding="utf-8")
    partial.replace(path)
    return path
