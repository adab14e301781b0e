"""Airflow building blocks the two DAGs share: preflight, crawling the lake, checking it with Athena.

Each builder adds tasks to the DAG being defined (call them inside ``with DAG(...)`` / ``@dag``) and returns
what the DAG wires further. Nothing here talks to a service when a DAG file is parsed: connections and
settings are read when the tasks run.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow.providers.amazon.aws.hooks.athena import AthenaHook
from airflow.providers.amazon.aws.hooks.glue_catalog import GlueCatalogHook
from airflow.providers.amazon.aws.hooks.glue_crawler import GlueCrawlerHook
from airflow.providers.amazon.aws.hooks.s3 import S3Hook
from airflow.providers.amazon.aws.operators.athena import AthenaOperator
from airflow.providers.amazon.aws.operators.glue_crawler import (
    GlueCrawlerCreateOperator,
    GlueCrawlerRunOperator,
    GlueCrawlerUpdateOperator,
)
from airflow.providers.amazon.aws.sensors.glue_crawler import GlueCrawlerSensor
from airflow.sdk import Asset, TaskGroup, task
from airflow.sdk.exceptions import AirflowException, AirflowFailException

from plugins.lake import (
    CheckPlan,
    JourneyScope,
    LakeNames,
    catalog_schema_problems,
    crawler_configs,
    quality_violations,
)
from smartcity.contracts.records import CONTRACTS
from smartcity.kafka_client import security_config
from smartcity.settings import get_settings

ATHENA_POLL_S = 2  # the provider's default is 30 s; local queries take well under a second
CRAWLER_POLL_S = 3


def lake_names() -> LakeNames:
    return LakeNames.from_settings(get_settings())


def lake_asset(names: LakeNames) -> Asset:
    """The lake's valid data, updated by each successful journey (it triggers ``smartcity_catalog``)."""
    return Asset(name="smartcity_lake", uri=names.lake_uri, group="smartcity")


# --- preflight --------------------------------------------------------------------------------------------
@task(retries=2)
def check_services() -> dict[str, str]:
    """Every service the pipeline needs answers: Kafka, S3, Glue and Athena. A failure names the service."""
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AdminClient

    settings = get_settings()
    problems, reached = [], {}
    bootstrap = settings.kafka_bootstrap
    try:
        AdminClient({**security_config(), "bootstrap.servers": bootstrap, "log_level": 0}).list_topics(timeout=5)
        reached["kafka"] = bootstrap
    except KafkaException as exc:
        problems.append(f"Kafka at {bootstrap} is not reachable: {exc.args[0].str() if exc.args else exc}")
    probes = {
        "S3": lambda: S3Hook().get_conn().list_buckets(),
        "Glue": lambda: GlueCrawlerHook().glue_client.get_databases(MaxResults=1),
        "Athena": lambda: AthenaHook().get_conn().list_work_groups(MaxResults=1),
    }
    for service, probe in probes.items():
        try:
            probe()
            reached[service.lower()] = "ok"
        except Exception as exc:  # botocore raises connection, credential and client errors alike
            problems.append(f"{service} is not usable through the aws_default connection: {exc}")
    if problems:
        raise AirflowException("Services down or misconfigured:\n  " + "\n  ".join(problems))
    return reached


# --- crawling --------------------------------------------------------------------------------------------------
@task.branch
def choose_crawler_action(crawler_name: str, create_task_id: str, update_task_id: str) -> str:
    """Create the crawler the first time, update it from the config afterwards."""
    return update_task_id if GlueCrawlerHook().has_crawler(crawler_name) else create_task_id


def crawl_lake(names: LakeNames, *, sensor: bool) -> TaskGroup:
    """Per lake crawler: choose create/update -> create | update -> run (-> sensor)."""
    with TaskGroup(group_id="crawl_lake", tooltip="Glue crawlers over data/ and quarantine/") as group:
        for crawler_name, config in crawler_configs(names).items():
            part = crawler_name.rsplit("_", 1)[-1]  # data | quarantine
            create = GlueCrawlerCreateOperator(task_id=f"create_{part}_crawler", config=config)
            update = GlueCrawlerUpdateOperator(task_id=f"update_{part}_crawler", config=config)
            choose = choose_crawler_action.override(task_id=f"choose_{part}_crawler_action")(
                crawler_name, create.task_id, update.task_id
            )
            crawl = GlueCrawlerRunOperator(
                task_id=f"crawl_{part}",
                crawler_name=crawler_name,
                poll_interval=CRAWLER_POLL_S,
                wait_for_completion=not sensor,
                # The other DAG may be crawling right now: wait for that crawl instead of failing.
                fail_on_already_running=False,
                trigger_rule="none_failed_min_one_success",
            )
            choose >> [create, update] >> crawl
            if sensor:
                crawl >> GlueCrawlerSensor(
                    task_id=f"wait_for_{part}_crawl",
                    crawler_name=crawler_name,
                    poke_interval=CRAWLER_POLL_S,
                    timeout=30 * 60,
                    mode="reschedule",
                )
    return group


# --- checking --------------------------------------------------------------------------------------------------
def athena_rows(query_execution_id: str) -> list[dict[str, Any]]:
    """All result rows of a finished Athena query as dicts (bigint/integer columns as int)."""
    paginator = AthenaHook().get_query_results_paginator(query_execution_id)
    if paginator is None:
        raise AirflowException(f"Athena query {query_execution_id} has no results (not finished or failed)")
    rows: list[dict[str, Any]] = []
    columns: list[tuple[str, str]] | None = None
    for page in paginator:
        result_rows = page["ResultSet"]["Rows"]
        if columns is None:
            info = page["ResultSet"]["ResultSetMetadata"]["ColumnInfo"]
            columns = [(c["Name"], c["Type"]) for c in info]
            result_rows = result_rows[1:]  # the first row of the first page repeats the column names
        for row in result_rows:
            values = [cell.get("VarCharValue") for cell in row["Data"]]
            rows.append(
                {
                    name: int(v) if v is not None and kind in ("bigint", "integer", "smallint", "tinyint") else v
                    for (name, kind), v in zip(columns, values, strict=True)
                }
            )
    return rows


def _check_plan(report: dict[str, Any] | None) -> CheckPlan:
    pages = GlueCatalogHook().get_conn().get_paginator("get_tables").paginate(DatabaseName=lake_names().database)
    tables = [table["Name"] for page in pages for table in page["TableList"]]
    scope = JourneyScope.from_report(report) if report else None
    return CheckPlan.build(tables, scope)


@task(multiple_outputs=True)
def plan_lake_checks(report: dict[str, Any] | None = None) -> dict[str, Any]:
    """The SQL of the lake-wide checks, for the tables the crawlers catalogued (scoped to one journey if given)."""
    plan = _check_plan(report)
    return {
        "tables": plan.tables,
        "row_counts": plan.row_counts,
        "quarantine_counts": plan.quarantine_counts,
        "snapshot_uris": plan.snapshot_uris,
    }


@task
def plan_stream_checks(report: dict[str, Any] | None = None) -> list[str]:
    """One contract-rules query per catalogued stream table (the mapped check task runs one each)."""
    return _check_plan(report).stream_checks


@task
def check_catalog_schema(tables: Sequence[str]) -> None:
    """Every stream table has exactly its contract's columns and Hive types, partitioned by ``date``."""
    glue = GlueCatalogHook().get_conn()
    database = lake_names().database
    problems = []
    for stream in CONTRACTS:
        if stream not in tables:
            continue
        table = glue.get_table(DatabaseName=database, Name=stream)["Table"]
        columns = [(c["Name"], c["Type"]) for c in table["StorageDescriptor"]["Columns"]]
        keys = [k["Name"] for k in table.get("PartitionKeys", [])]
        problems += catalog_schema_problems(stream, columns, keys)
    if problems:
        raise AirflowFailException("The catalog does not match the record contracts:\n  " + "\n  ".join(problems))


@task
def evaluate_stream_rules(query_execution_ids: Sequence[str]) -> dict[str, int]:
    """Fail, naming stream, rule and row count, if any lake row breaks its contract."""
    rows = [row for qid in query_execution_ids for row in athena_rows(qid)]
    problems = quality_violations(rows)
    if problems:
        raise AirflowFailException("Data-quality checks failed:\n  " + "\n  ".join(problems))
    return {row["stream"]: row["row_count"] for row in rows}


@task
def check_snapshots_exist(query_execution_id: str) -> int:
    """Every camera event's snapshot is an object in S3 (listed once per bucket, not one request each)."""
    uris = [row["snapshot_uri"] for row in athena_rows(query_execution_id)]
    s3 = S3Hook()
    missing = []
    by_bucket: dict[str, set[str]] = {}
    for uri in uris:
        bucket, _, key = uri.removeprefix("s3://").partition("/")
        by_bucket.setdefault(bucket, set()).add(key)
    for bucket, keys in by_bucket.items():
        prefix = _common_prefix(keys)
        present = set(s3.list_keys(bucket_name=bucket, prefix=prefix))
        missing += [f"s3://{bucket}/{key}" for key in sorted(keys - present)]
    if missing:
        sample = "\n  ".join(missing[:10])
        raise AirflowFailException(f"{len(missing):,} of {len(uris):,} camera snapshots are missing, e.g.:\n  {sample}")
    return len(uris)


def _common_prefix(keys: set[str]) -> str:
    """The longest folder (``a/b/``) every key is in, to list as little of the bucket as possible."""
    folders = [key.rsplit("/", 1)[0].split("/") if "/" in key else [] for key in keys]
    common: list[str] = []
    for parts in zip(*folders, strict=False):
        if len(set(parts)) != 1:
            break
        common.append(parts[0])
    return "".join(f"{part}/" for part in common)


def athena_operator(task_id: str, query: Any, names: LakeNames, **kwargs: Any) -> AthenaOperator:
    return AthenaOperator(
        task_id=task_id,
        query=query,
        database=names.database,
        output_location=names.athena_output,
        sleep_time=ATHENA_POLL_S,
        **kwargs,
    )


class LakeChecks:
    """The check tasks of one DAG run; ``row_counts``/``quarantine_counts`` feed a reconciliation."""

    def __init__(self, names: LakeNames, report: Any = None) -> None:
        with TaskGroup(group_id="check_lake", tooltip="Athena queries derived from the record contracts") as group:
            plan = plan_lake_checks(report)
            self.row_counts = athena_operator("count_lake_rows", plan["row_counts"], names)
            self.quarantine_counts = athena_operator("count_quarantined_rows", plan["quarantine_counts"], names)
            stream_rules = AthenaOperator.partial(
                task_id="check_stream_rules",
                database=names.database,
                output_location=names.athena_output,
                sleep_time=ATHENA_POLL_S,
                map_index_template="{{ task.query.splitlines()[0].removeprefix('-- check ') }}",
            ).expand(query=plan_stream_checks(report))
            snapshot_uris = athena_operator("list_snapshot_uris", plan["snapshot_uris"], names)
            self.rule_results = evaluate_stream_rules(stream_rules.output)
            check_catalog_schema(plan["tables"])
            check_snapshots_exist(snapshot_uris.output)
        self.group = group
