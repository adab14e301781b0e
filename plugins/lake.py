"""The lake as the DAGs see it: its crawlers, the Athena checks derived from the record contracts, and the
reconciliation of a journey against the producer's run report.

Pure Python (no Airflow import): the DAGs wire these into operators, ``smartcity aws bootstrap`` can reuse the
crawler definitions, and the unit tests call them directly.

Layout (written by ``spark_jobs``): valid rows under ``s3://<lake>/data/<stream>/date=YYYY-MM-DD/``, rejects
under ``s3://<lake>/quarantine/<stream>/date=YYYY-MM-DD/`` (with ``reason``, ``topic`` and the Kafka
coordinates), producer run reports under ``s3://<lake>/reports/``. Two crawlers catalog it: one table per
stream from ``data/`` and one ``quarantine`` table for all streams' rejects.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from smartcity.contracts.model import FieldType, RecordContract
from smartcity.contracts.records import CONTRACTS, EMERGENCY
from smartcity.settings import Settings

DATA_PREFIX = "data/"
QUARANTINE_PREFIX = "quarantine/"
REPORTS_PREFIX = "reports/"
QUARANTINE_TABLE = "quarantine"
PARTITION_KEY = "date"
# What a Glue crawler must not read as data: Spark's own bookkeeping and half-written output.
CRAWLER_EXCLUSIONS = ("_spark_metadata", "**/_spark_metadata", "**spark_metadata**", "**/_temporary/**", "**/_SUCCESS")
# Kafka timestamps of a run's messages lie within the producer's run; allow for clock steps around it.
QUARANTINE_SLACK = timedelta(minutes=1)


@dataclass(frozen=True)
class LakeNames:
    """Every name the DAGs use, from the settings (the same environment on the laptop and on AWS)."""

    lake_bucket: str
    images_bucket: str
    athena_output: str
    database: str
    crawler_role: str
    lake_prefix: str = ""  # a lake under a folder of its bucket ("team/smartcity/"); the bucket root by default

    @classmethod
    def from_settings(cls, settings: Settings) -> LakeNames:
        return cls(
            lake_bucket=settings.lake_bucket,
            images_bucket=settings.images_bucket,
            athena_output=settings.athena_output,
            database=settings.glue_database,
            crawler_role=settings.glue_crawler_role,
        )

    @property
    def athena_results_bucket(self) -> str:
        return self.athena_output.removeprefix("s3://").split("/", 1)[0]

    @property
    def data_crawler(self) -> str:
        return f"{self.database}_lake_data"

    @property
    def quarantine_crawler(self) -> str:
        return f"{self.database}_lake_quarantine"

    def lake_path(self, prefix: str) -> str:
        return f"s3://{self.lake_bucket}/{self.lake_prefix}{prefix}"

    @property
    def lake_uri(self) -> str:
        return self.lake_path(DATA_PREFIX)


def crawler_configs(names: LakeNames) -> dict[str, dict[str, Any]]:
    """Glue ``CreateCrawler``/``UpdateCrawler`` arguments of the two lake crawlers, by crawler name.

    ``TableLevelConfiguration`` pins where tables start, so the catalog does not depend on Glue's schema
    similarity heuristics: ``s3://<lake>/data/<stream>/`` (level 3) is one table per stream, and
    ``s3://<lake>/quarantine/`` (level 2) one table whose partitions are the stream folders and dates
    (levels count one deeper for every folder of ``lake_prefix``).
    """
    depth = names.lake_prefix.count("/")

    def config(name: str, prefix: str, table_level: int, description: str) -> dict[str, Any]:
        return {
            "Name": name,
            "Role": names.crawler_role,
            "DatabaseName": names.database,
            "Description": description,
            "Targets": {"S3Targets": [{"Path": names.lake_path(prefix), "Exclusions": list(CRAWLER_EXCLUSIONS)}]},
            "SchemaChangePolicy": {"UpdateBehavior": "UPDATE_IN_DATABASE", "DeleteBehavior": "LOG"},
            "RecrawlPolicy": {"RecrawlBehavior": "CRAWL_EVERYTHING"},
            "Configuration": json.dumps(
                {
                    "Version": 1.0,
                    "Grouping": {"TableLevelConfiguration": table_level},
                    "CrawlerOutput": {"Partitions": {"AddOrUpdateBehavior": "InheritFromTable"}},
                }
            ),
            "Tags": {"project": "smartcity"},
        }

    return {
        names.data_crawler: config(names.data_crawler, DATA_PREFIX, 3 + depth, "smartcity lake: one table per stream"),
        names.quarantine_crawler: config(
            names.quarantine_crawler,
            QUARANTINE_PREFIX,
            2 + depth,
            "smartcity quarantine: rejected records of every stream",
        ),
    }


# --- scope: which rows belong to one journey ---------------------------------------------------------------
def _instant(value: str | datetime) -> datetime:
    moment = datetime.fromisoformat(value.replace("Z", "+00:00")) if isinstance(value, str) else value
    return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)


def sql_string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


@dataclass(frozen=True)
class Window:
    """A closed time interval, and the ``date`` partitions it touches (for partition pruning)."""

    start: datetime
    end: datetime

    @classmethod
    def of(cls, start: str | datetime, end: str | datetime) -> Window:
        return cls(_instant(start), _instant(end))

    def predicate(self, column: str) -> str:
        """``date`` partitions first (pruning), then the instants, compared as epoch seconds.

        ``to_unixtime`` keeps the comparison independent of how the Parquet writer stored the zone (Spark:
        UTC-adjusted; the catalog type is plain ``timestamp``); the local stand-in fails comparing a
        zone-aware column with a ``TIMESTAMP '...'`` literal. The ``date`` predicate does the pruning.
        """
        dates = f"{PARTITION_KEY} BETWEEN '{self.start:%Y-%m-%d}' AND '{self.end:%Y-%m-%d}'"
        return f"{dates} AND to_unixtime({column}) BETWEEN {self.start.timestamp():.3f} AND {self.end.timestamp():.3f}"


@dataclass(frozen=True)
class JourneyScope:
    """The rows of one producer run: per stream the event-time window of its good records, and the
    wall-clock window in which its messages (hence its rejects' Kafka timestamps) were produced.

    Journeys started by the DAG never overlap in event time (each starts after the previous one's last
    event, see ``plugins.journey``), so an event-time window selects exactly one journey's rows.
    """

    events: dict[str, Window | None]
    produced: Window

    @classmethod
    def from_report(cls, report: Mapping[str, Any]) -> JourneyScope:
        events = {}
        for stream, counts in report["topics"].items():
            first, last = counts.get("first_event_time"), counts.get("last_event_time")
            events[stream] = Window.of(first, last) if first and last else None
        started = _instant(report["started_at"]) - QUARANTINE_SLACK
        finished = _instant(report.get("finished_at") or datetime.now(UTC)) + QUARANTINE_SLACK
        return cls(events=events, produced=Window(started, finished))


# --- the Athena checks ------------------------------------------------------------------------------------
def _where(scope: JourneyScope | None, stream: str) -> str:
    if scope is None:
        return ""
    window = scope.events.get(stream)
    return f" WHERE {window.predicate('event_time')}" if window else " WHERE false"


def row_counts_sql(tables: Iterable[str], scope: JourneyScope | None = None) -> str:
    """``(stream, rows)`` per stream table present in the catalog."""
    parts = [
        f"SELECT {sql_string(stream)} AS stream, count(*) AS row_count FROM {stream}{_where(scope, stream)}"
        for stream in CONTRACTS
        if stream in set(tables)
    ]
    if not parts:  # nothing catalogued yet: an empty result of the same shape
        return "SELECT CAST(NULL AS varchar) AS stream, CAST(0 AS bigint) AS row_count WHERE false"
    return "\nUNION ALL\n".join(parts)


def quarantine_counts_sql(tables: Iterable[str], scope: JourneyScope | None = None) -> str:
    """``(stream, reason, rows)`` of the quarantine table (empty when there is none: nothing was rejected)."""
    if QUARANTINE_TABLE not in set(tables):
        return (
            "SELECT CAST(NULL AS varchar) AS stream, CAST(NULL AS varchar) AS reason, "
            "CAST(0 AS bigint) AS row_count WHERE false"
        )
    where = f" WHERE {scope.produced.predicate('kafka_timestamp')}" if scope else ""
    return (
        f"SELECT topic AS stream, reason, count(*) AS row_count FROM {QUARANTINE_TABLE}{where} "
        "GROUP BY topic, reason ORDER BY topic, reason"
    )


def _checks(contract: RecordContract) -> list[tuple[str, str, str]]:
    """(column alias, SQL condition counting violations, human description) per rule of the contract."""
    checks = []
    for spec in contract.fields:
        name = spec.name
        if spec.required:
            checks.append((f"null__{name}", f"{name} IS NULL", f"{name} is null"))
        if spec.minimum is not None or spec.maximum is not None:
            bounds = []
            if spec.minimum is not None:
                bounds.append(f"{name} < {spec.minimum:g}")
            if spec.maximum is not None:
                bounds.append(f"{name} > {spec.maximum:g}")
            low = "" if spec.minimum is None else f"{spec.minimum:g}"
            high = "" if spec.maximum is None else f"{spec.maximum:g}"
            described = f"[{low}, {high}]"
            checks.append((f"range__{name}", " OR ".join(bounds), f"{name} outside {described}"))
        if spec.enum is not None:
            allowed = ", ".join(sql_string(v) for v in spec.enum)
            checks.append((f"enum__{name}", f"{name} NOT IN ({allowed})", f"{name} not one of {list(spec.enum)}"))
        if spec.pattern is not None and spec.type is FieldType.STRING:
            regex = sql_string(f"^(?:{spec.pattern})$")
            checks.append(
                (f"pattern__{name}", f"NOT regexp_like({name}, {regex})", f"{name} not matching {spec.pattern}")
            )
    # Event times of one vehicle strictly increase: no two events of a vehicle at the same instant.
    checks.append(
        (
            "order__event_time",
            "previous_time IS NOT NULL AND event_time <= previous_time",
            "two events of one vehicle at the same instant",
        )
    )
    if contract.stream == EMERGENCY.stream:
        # An incident goes reported -> responding -> resolved, in event-time order.
        valid = (
            "(previous_status IS NULL AND status = 'reported') OR "
            "(previous_status = 'reported' AND status = 'responding') OR "
            "(previous_status = 'responding' AND status = 'resolved')"
        )
        checks.append(("order__status", f"NOT ({valid})", "incident status out of order"))
    return checks


def describe_check(stream: str, column: str) -> str:
    """The human description of a check column of :func:`stream_check_sql`'s result."""
    for alias, _, description in _checks(CONTRACTS[stream]):
        if alias == column:
            return description
    return column


def stream_check_sql(stream: str, scope: JourneyScope | None = None) -> str:
    """One row per stream: ``row_count`` and the number of rows violating each contract rule.

    One scan per table: every rule is a ``count_if`` over the same rows (window functions give each row its
    vehicle's previous event time, and an incident's previous status, for the ordering rules).
    """
    contract = CONTRACTS[stream]
    lags = ["lag(event_time) OVER (PARTITION BY vehicle_id ORDER BY event_time, event_id) AS previous_time"]
    if stream == EMERGENCY.stream:
        lags.append("lag(status) OVER (PARTITION BY incident_id ORDER BY event_time, event_id) AS previous_status")
    counts = ",\n  ".join(f"count_if({condition}) AS {alias}" for alias, condition, _ in _checks(contract))
    return (
        f"-- check {stream}\n"
        f"SELECT {sql_string(stream)} AS stream, count(*) AS row_count,\n  {counts}\n"
        f"FROM (SELECT *, {', '.join(lags)} FROM {stream}{_where(scope, stream)}) AS rows_in_scope"
    )


def snapshot_uris_sql(tables: Iterable[str], scope: JourneyScope | None = None) -> str:
    """The camera snapshots the traffic events point at (empty when there is no traffic table)."""
    if "traffic_data" not in set(tables):
        return "SELECT CAST(NULL AS varchar) AS snapshot_uri WHERE false"
    return f"SELECT DISTINCT snapshot_uri FROM traffic_data{_where(scope, 'traffic_data')}"


@dataclass(frozen=True)
class CheckPlan:
    """The SQL of every check, for the tables the catalog holds (what a DAG passes to AthenaOperators)."""

    tables: list[str]
    row_counts: str
    quarantine_counts: str
    stream_checks: list[str]
    snapshot_uris: str

    @classmethod
    def build(cls, tables: Iterable[str], scope: JourneyScope | None = None) -> CheckPlan:
        present = sorted(set(tables))
        return cls(
            tables=present,
            row_counts=row_counts_sql(present, scope),
            quarantine_counts=quarantine_counts_sql(present, scope),
            stream_checks=[stream_check_sql(s, scope) for s in CONTRACTS if s in present],
            snapshot_uris=snapshot_uris_sql(present, scope),
        )

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


# --- evaluating results -------------------------------------------------------------------------------------
def quality_violations(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """Messages for every non-zero violation count in :func:`stream_check_sql` results."""
    problems = []
    for row in rows:
        stream = row["stream"]
        for column, value in row.items():
            if column in ("stream", "row_count") or not int(value or 0):
                continue
            problems.append(f"{stream}: {int(value):,} row(s) with {describe_check(stream, column)}")
    return problems


def catalog_schema_problems(
    stream: str, columns: Sequence[tuple[str, str]], partition_keys: Sequence[str]
) -> list[str]:
    """How a crawled table differs from its contract's Glue columns (names and Hive types)."""
    expected = CONTRACTS[stream].glue_columns()
    problems = []
    found = dict(columns)
    for name, hive_type in expected:
        if name not in found:
            problems.append(f"{stream}: column {name} missing from the catalog")
        elif found[name].lower() != hive_type:
            problems.append(f"{stream}: column {name} is {found[name]} in the catalog, the contract says {hive_type}")
    extra = sorted(set(found) - {name for name, _ in expected})
    if extra:
        problems.append(f"{stream}: columns not in the contract: {', '.join(extra)}")
    if list(partition_keys) != [PARTITION_KEY]:
        problems.append(f"{stream}: partition keys {list(partition_keys)}, expected ['{PARTITION_KEY}']")
    return problems


def reconcile(
    report: Mapping[str, Any],
    lake_rows: Mapping[str, int],
    quarantine_rows: Mapping[tuple[str, str], int],
) -> list[str]:
    """Mismatches between the lake (as Athena counts it) and the producer's run report, one message each.

    Per stream: rows in the lake == good records the broker acknowledged; rows in the quarantine, per
    reason == injected bad records acknowledged (duplicates are dropped by the job, so they appear nowhere).
    """
    problems = []
    for stream, counts in report["topics"].items():
        expected = int(counts["expected_valid"])
        found = int(lake_rows.get(stream, 0))
        if found != expected:
            diff = found - expected
            what = f"{-diff:,} missing" if diff < 0 else f"{diff:,} more than sent"
            problems.append(
                f"{stream}: the lake has {found:,} rows, the producer's report expects {expected:,} ({what})"
            )
        expected_reasons: dict[str, int] = {k: int(v) for k, v in (counts.get("expected_quarantined") or {}).items()}
        found_reasons = {reason: n for (s, reason), n in quarantine_rows.items() if s == stream}
        for reason in sorted(set(expected_reasons) | set(found_reasons)):
            want, got = expected_reasons.get(reason, 0), int(found_reasons.get(reason, 0))
            if want != got:
                problems.append(
                    f"{stream}: the quarantine has {got:,} '{reason}' rows, "
                    f"the report injected {want:,} ({got - want:+,})"
                )
    unexpected = sorted(set(lake_rows) - set(report["topics"]))
    problems.extend(
        f"{stream}: {lake_rows[stream]:,} rows in the lake for a stream this run did not produce"
        for stream in unexpected
        if lake_rows[stream]
    )
    return problems
