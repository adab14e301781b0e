"""Running the report's Athena queries with boto3, keeping each query's timings for the health section."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from smartcity.report.errors import ReportError
from smartcity.settings import Settings

FINAL_STATES = ("SUCCEEDED", "FAILED", "CANCELLED")
POLL_S = 0.2
INTEGER_TYPES = ("tinyint", "smallint", "integer", "bigint")
FLOAT_TYPES = ("float", "real", "double", "decimal")


@dataclass(frozen=True)
class QueryTiming:
    """Athena's own figures for one query (``QueryExecution.Statistics``)."""

    label: str
    query_id: str
    state: str
    total_ms: int
    engine_ms: int
    queue_ms: int
    planning_ms: int
    scanned_bytes: int
    rows: int | None  # None: a query of the pipeline whose results the report did not read
    source: str = "report"  # report | pipeline
    submitted: datetime | None = None


def query_label(sql: str, width: int = 60) -> str:
    """A short name for a query: its leading ``-- comment`` (the DAG's checks have one) or its start."""
    for line in sql.splitlines():
        line = line.strip()
        if line.startswith("--"):
            return line.lstrip("-").strip()[:width] or "query"
        if line:
            break
    text = " ".join(sql.split())
    return text if len(text) <= width else text[: width - 1] + "\N{HORIZONTAL ELLIPSIS}"


def timing_of(execution: dict[str, Any], label: str, rows: int | None, source: str) -> QueryTiming:
    stats = execution.get("Statistics", {})
    return QueryTiming(
        label=label,
        query_id=execution["QueryExecutionId"],
        state=execution["Status"]["State"],
        total_ms=int(stats.get("TotalExecutionTimeInMillis", 0)),
        engine_ms=int(stats.get("EngineExecutionTimeInMillis", 0)),
        queue_ms=int(stats.get("QueryQueueTimeInMillis", 0)),
        planning_ms=int(stats.get("QueryPlanningTimeInMillis", 0)),
        scanned_bytes=int(stats.get("DataScannedInBytes", 0)),
        rows=rows,
        source=source,
        submitted=execution["Status"].get("SubmissionDateTime"),
    )


def convert(value: str | None, athena_type: str) -> Any:
    """One ``VarCharValue`` as a Python value of its column's Athena type (NULL arrives as no value)."""
    if value is None:
        return None
    if athena_type in INTEGER_TYPES:
        return int(value)
    if athena_type in FLOAT_TYPES:
        return float(value)
    if athena_type == "boolean":
        return value == "true"
    return value


def result_rows(pages: Any) -> list[dict[str, Any]]:
    """The rows of ``get_query_results`` pages as dicts (the first row of the first page is the header)."""
    rows: list[dict[str, Any]] = []
    columns: list[tuple[str, str]] | None = None
    for page in pages:
        data = page["ResultSet"]["Rows"]
        if columns is None:
            info = page["ResultSet"]["ResultSetMetadata"]["ColumnInfo"]
            columns = [(c["Name"], c["Type"]) for c in info]
            data = data[1:]
        for row in data:
            values = [cell.get("VarCharValue") for cell in row["Data"]]
            rows.append({name: convert(v, kind) for (name, kind), v in zip(columns, values, strict=True)})
    return rows


def _describe(exc: Exception) -> str:
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        return f"{error.get('Code', 'error')}: {error.get('Message', exc)}"
    return str(exc)


class Athena:
    """Runs queries in the lake's Glue database and remembers how long each took."""

    def __init__(self, settings: Settings, timeout_s: float = 300.0) -> None:
        self.settings = settings
        self.timeout_s = timeout_s
        self.client = settings.boto3_client("athena")
        self.timings: list[QueryTiming] = []
        self._workgroup: str | None = None

    @property
    def workgroup(self) -> str:
        """The project's work group (``SMARTCITY_ATHENA_WORKGROUP``) if it exists, else ``primary``.

        ``smartcity aws bootstrap`` creates the project's work group on AWS; the local stack and a bare
        account only have ``primary``.
        """
        if self._workgroup is None:
            try:
                self.client.get_work_group(WorkGroup=self.settings.athena_workgroup)
                self._workgroup = self.settings.athena_workgroup
            except ClientError:
                self._workgroup = "primary"
            except BotoCoreError as exc:
                where = self.settings.athena_endpoint or "AWS"
                raise ReportError(f"Athena at {where} is not reachable: {exc}") from exc
        return self._workgroup

    def query(self, label: str, sql: str) -> list[dict[str, Any]]:
        """Run ``sql`` to completion and return its rows; a failed query raises ReportError with Athena's reason."""
        try:
            query_id = self.client.start_query_execution(
                QueryString=sql,
                QueryExecutionContext={"Database": self.settings.glue_database},
                ResultConfiguration={"OutputLocation": self.settings.athena_output},
                WorkGroup=self.workgroup,
            )["QueryExecutionId"]
            execution = self._wait(query_id, label)
            status = execution["Status"]
            if status["State"] != "SUCCEEDED":
                why = status.get("StateChangeReason", "no reason given")
                raise ReportError(f"Athena query '{label}' ended {status['State']}: {why}")
            pages = self.client.get_paginator("get_query_results").paginate(QueryExecutionId=query_id)
            rows = result_rows(pages)
        except (ClientError, BotoCoreError) as exc:
            raise ReportError(f"Athena query '{label}' could not run: {_describe(exc)}") from exc
        self.timings.append(timing_of(execution, label, len(rows), "report"))
        return rows

    def history(self, since: datetime, limit: int = 200) -> list[QueryTiming]:
        """The pipeline's queries on the lake's database submitted since ``since`` (newest first, at most
        ``limit`` looked at), without the report's own. Checked in the report's work group and ``primary``
        (where Airflow's AthenaOperator runs by default)."""
        own = {timing.query_id for timing in self.timings}
        found: list[QueryTiming] = []
        try:
            for workgroup in dict.fromkeys((self.workgroup, "primary")):
                pages = self.client.get_paginator("list_query_executions").paginate(
                    WorkGroup=workgroup, PaginationConfig={"MaxItems": limit, "PageSize": 50}
                )
                for page in pages:
                    ids = [qid for qid in page.get("QueryExecutionIds", []) if qid not in own]
                    if not ids:
                        continue
                    executions = self.client.batch_get_query_execution(QueryExecutionIds=ids)["QueryExecutions"]
                    recent = [e for e in executions if e["Status"]["SubmissionDateTime"] >= since]
                    found += [
                        timing_of(e, query_label(e.get("Query", "")), None, "pipeline")
                        for e in recent
                        if (e.get("QueryExecutionContext") or {}).get("Database", "").lower()
                        == self.settings.glue_database.lower()
                    ]
                    if len(recent) < len(executions):  # newest first: the rest are older still
                        break
        except (ClientError, BotoCoreError) as exc:
            raise ReportError(
                f"cannot list the Athena queries of work group {self.workgroup}: {_describe(exc)}"
            ) from exc
        return sorted(found, key=lambda timing: timing.submitted or since)

    def _wait(self, query_id: str, label: str) -> dict[str, Any]:
        deadline = time.monotonic() + self.timeout_s
        while True:
            execution = self.client.get_query_execution(QueryExecutionId=query_id)["QueryExecution"]
            if execution["Status"]["State"] in FINAL_STATES:
                return execution
            if time.monotonic() > deadline:
                self.client.stop_query_execution(QueryExecutionId=query_id)
                raise ReportError(f"Athena query '{label}' ({query_id}) did not finish within {self.timeout_s:g} s")
            time.sleep(POLL_S)
