"""The one error the report raises for expected problems (no run report, Athena failing, bad input files)."""

from __future__ import annotations


class ReportError(Exception):
    """An expected problem; the message says what and where, the CLI prints it without a traceback."""
