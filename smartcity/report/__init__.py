"""The journey report: maps and plots of one run, and the pipeline's health for it, as one HTML page.

``render_run_report(settings, run_id, out_dir) -> Path`` is what the CLI (``smartcity report``) and the
journey DAG's last task call. Imported lazily, so that mounting the CLI does not load matplotlib and pandas.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from smartcity.report.errors import ReportError
    from smartcity.report.render import render_run_report

__all__ = ["ReportError", "render_run_report"]


def __getattr__(name: str) -> Any:
    if name == "render_run_report":
        from smartcity.report.render import render_run_report

        return render_run_report
    if name == "ReportError":
        from smartcity.report.errors import ReportError

        return ReportError
    raise AttributeError(f"module 'smartcity.report' has no attribute {name!r}")
