"""Where the report's inputs come from: the producer's run report, the streaming job's metrics and summary,
and the Glue crawlers' timings.

Locations follow the journey DAG (``plugins.journey_tasks.plan_journey``): the run report is
``s3://<lake>/reports/<run_id>.json`` (and a local copy under ``<data dir>/reports/``); the job's exit summary
is ``<data dir>/reports/<run_id>.spark-summary.json`` and its per-batch metrics
``<data dir>/reports/<run_id>.metrics.jsonl`` (``--metrics-file``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from pydantic import ValidationError

from plugins.lake import LakeNames
from producers.report import REPORT_PREFIX, RunReport, report_key
from smartcity.report.errors import ReportError
from smartcity.settings import Settings


def local_reports_dir(settings: Settings) -> Path:
    return settings.data_dir / "reports"


def default_metrics_file(settings: Settings, run_id: str) -> Path:
    return local_reports_dir(settings) / f"{run_id}.metrics.jsonl"


def default_summary_file(settings: Settings, run_id: str) -> Path:
    return local_reports_dir(settings) / f"{run_id}.spark-summary.json"


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


# --- the producer's run report -----------------------------------------------------------------------------
def parse_run_report(text: str | bytes, where: str) -> RunReport:
    try:
        return RunReport.model_validate_json(text)
    except ValidationError as exc:
        first = exc.errors()[0]
        place = ".".join(str(part) for part in first["loc"]) or "the document"
        raise ReportError(f"{where} is not a producer run report: {place}: {first['msg']}") from exc


def latest_run_id(settings: Settings) -> str:
    """The run whose report was written last to ``s3://<lake>/reports/``."""
    s3 = settings.boto3_client("s3")
    newest: tuple[datetime, str] | None = None
    try:
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=settings.lake_bucket, Prefix=REPORT_PREFIX):
            for item in page.get("Contents", []):
                name = item["Key"].removeprefix(REPORT_PREFIX)
                if "/" in name or not name.endswith(".json"):
                    continue
                if newest is None or item["LastModified"] > newest[0]:
                    newest = (item["LastModified"], name.removesuffix(".json"))
    except ClientError as exc:
        if _code(exc) != "NoSuchBucket":
            raise ReportError(f"cannot list s3://{settings.lake_bucket}/{REPORT_PREFIX}: {exc}") from exc
    except BotoCoreError as exc:
        raise ReportError(f"S3 at {settings.s3_endpoint or 'AWS'} is not reachable: {exc}") from exc
    if newest is None:
        raise ReportError(
            f"no run reports in s3://{settings.lake_bucket}/{REPORT_PREFIX}: run a journey first "
            "(smartcity demo, or the smartcity_journey DAG), or pass --run-id / --report-file"
        )
    return newest[1]


def load_run_report(settings: Settings, run_id: str | None, report_file: Path | None = None) -> RunReport:
    """The run report from ``report_file``, else from the lake, else from the local reports folder."""
    if report_file is not None:
        try:
            return parse_run_report(report_file.read_bytes(), str(report_file))
        except OSError as exc:
            raise ReportError(f"cannot read the run report {report_file}: {exc.strerror or exc}") from exc
    run_id = run_id or latest_run_id(settings)
    uri = f"s3://{settings.lake_bucket}/{report_key(run_id)}"
    local = local_reports_dir(settings) / f"{run_id}.json"
    try:
        body = settings.boto3_client("s3").get_object(Bucket=settings.lake_bucket, Key=report_key(run_id))["Body"]
        return parse_run_report(body.read(), uri)
    except ClientError as exc:
        if _code(exc) not in ("NoSuchKey", "NoSuchBucket", "404"):
            raise ReportError(f"cannot read {uri}: {exc}") from exc
    except BotoCoreError as exc:
        if not local.exists():
            raise ReportError(f"S3 at {settings.s3_endpoint or 'AWS'} is not reachable: {exc}") from exc
    if local.exists():
        return parse_run_report(local.read_bytes(), str(local))
    raise ReportError(f"no run report for run {run_id!r}: neither {uri} nor {local} exists")


def topic_prefix(report: RunReport) -> str:
    producer = report.config.get("producer")
    return str(producer.get("topic_prefix") or "") if isinstance(producer, dict) else ""


def stream_of(report: RunReport, topic: str) -> str:
    """The stream a topic of this run carries (runs may put a prefix before the stream names)."""
    return topic.removeprefix(topic_prefix(report))


def report_by_stream(report: RunReport) -> dict[str, Any]:
    """The report as plain JSON data with ``topics`` keyed by stream name (what ``plugins.lake`` expects)."""
    data = report.model_dump(mode="json")
    data["topics"] = {stream_of(report, topic): counts for topic, counts in data["topics"].items()}
    return data


# --- the streaming job's outputs --------------------------------------------------------------------------------
def read_metrics(path: Path) -> list[dict[str, Any]]:
    """The job's JSON lines. A last line without its newline is being written and is left for next time."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise ReportError(f"cannot read the streaming metrics {path}: {exc.strerror or exc}") from exc
    lines = text.split("\n")
    complete, partial = lines[:-1], lines[-1]
    records = []
    for number, line in enumerate(complete, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError as exc:
            raise ReportError(f"{path}:{number} is not a JSON line: {exc}") from exc
        if not isinstance(record, dict):
            raise ReportError(f"{path}:{number} is not a JSON object")
        records.append(record)
    if partial.strip():
        try:
            record = json.loads(partial)
        except ValueError:
            record = None
        if isinstance(record, dict):
            records.append(record)
    return records


def read_summary(path: Path) -> dict[str, Any]:
    try:
        summary = json.loads(path.read_text())
    except OSError as exc:
        raise ReportError(f"cannot read the streaming job summary {path}: {exc.strerror or exc}") from exc
    except ValueError as exc:
        raise ReportError(f"{path} is not JSON: {exc}") from exc
    if not isinstance(summary, dict) or not isinstance(summary.get("streams"), dict):
        raise ReportError(f"{path} is not a streaming job summary (no 'streams' object)")
    return summary


# --- Glue crawlers -----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CrawlerTiming:
    name: str
    state: str  # READY | RUNNING | STOPPING | missing
    last_status: str | None  # SUCCEEDED | FAILED | CANCELLED
    last_started: str | None
    last_runtime_s: float | None
    median_runtime_s: float | None
    tables_created: int | None
    tables_updated: int | None


def crawler_timings(settings: Settings) -> list[CrawlerTiming]:
    """Last crawl of each lake crawler (``GetCrawler`` + ``GetCrawlerMetrics``)."""
    names = LakeNames.from_settings(settings)
    crawlers = [names.data_crawler, names.quarantine_crawler]
    glue = settings.boto3_client("glue")
    try:
        metrics = {
            m["CrawlerName"]: m for m in glue.get_crawler_metrics(CrawlerNameList=crawlers)["CrawlerMetricsList"]
        }
        timings = []
        for name in crawlers:
            try:
                crawler = glue.get_crawler(Name=name)["Crawler"]
            except ClientError as exc:
                if _code(exc) != "EntityNotFoundException":
                    raise
                timings.append(CrawlerTiming(name, "missing", None, None, None, None, None, None))
                continue
            last = crawler.get("LastCrawl") or {}
            m = metrics.get(name, {})
            started = last.get("StartTime")
            timings.append(
                CrawlerTiming(
                    name=name,
                    state=crawler.get("State", "?"),
                    last_status=last.get("Status"),
                    last_started=started.isoformat(timespec="seconds") if isinstance(started, datetime) else started,
                    last_runtime_s=m.get("LastRuntimeSeconds"),
                    median_runtime_s=m.get("MedianRuntimeSeconds"),
                    tables_created=m.get("TablesCreated"),
                    tables_updated=m.get("TablesUpdated"),
                )
            )
        return timings
    except (ClientError, BotoCoreError) as exc:
        raise ReportError(f"cannot read the Glue crawlers {', '.join(crawlers)}: {exc}") from exc


def catalog_tables(settings: Settings) -> list[str]:
    """The tables the crawlers catalogued in the lake's database (none if the database does not exist yet)."""
    glue = settings.boto3_client("glue")
    tables: list[str] = []
    try:
        for page in glue.get_paginator("get_tables").paginate(DatabaseName=settings.glue_database):
            tables += [t["Name"] for t in page["TableList"]]
    except ClientError as exc:
        if _code(exc) == "EntityNotFoundException":
            return []
        raise ReportError(f"cannot list the tables of Glue database {settings.glue_database}: {exc}") from exc
    except BotoCoreError as exc:
        raise ReportError(f"Glue at {settings.glue_endpoint or 'AWS'} is not reachable: {exc}") from exc
    return tables
