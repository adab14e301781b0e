"""The DAGs' crawler definitions and Athena checks (plugins.lake) against the real stand-in, on a lake of
simulated records written as Parquet the way the streaming job lays it out.

The lake lives under a folder of its own in the session's lake bucket and a Glue database of its own, so
other tests' data never mixes in. Counting is done by the stand-in (real crawl, real SQL); the expected
values are what this test wrote.
"""

from __future__ import annotations

import io
import itertools
import time
import uuid
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from plugins.lake import (
    QUARANTINE_TABLE,
    CheckPlan,
    JourneyScope,
    LakeNames,
    catalog_schema_problems,
    crawler_configs,
    quality_violations,
    reconcile,
    stream_check_sql,
)
from producers.simulator import SimConfig, simulate
from smartcity.contracts.model import FieldType
from smartcity.contracts.records import CONTRACTS
from smartcity.settings import Settings

pytestmark = pytest.mark.integration

ARROW_TYPES = {
    FieldType.STRING: pa.string(),
    FieldType.INT: pa.int32(),
    FieldType.LONG: pa.int64(),
    FieldType.DOUBLE: pa.float64(),
    FieldType.BOOLEAN: pa.bool_(),
    FieldType.TIMESTAMP: pa.timestamp("us", tz="UTC"),
}
QUARANTINE_SCHEMA = pa.schema(
    [
        ("reason", pa.string()),
        ("field", pa.string()),
        ("detail", pa.string()),
        ("raw", pa.string()),
        ("topic", pa.string()),
        ("partition", pa.int32()),
        ("offset", pa.int64()),
        ("kafka_timestamp", pa.timestamp("us", tz="UTC")),
        ("event_id", pa.string()),
        ("event_time", pa.timestamp("us", tz="UTC")),
        ("batch_id", pa.int64()),
    ]
)
START = datetime(2025, 3, 1, 6, 0, tzinfo=UTC)


def _ts(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _parquet(table: pa.Table) -> bytes:
    out = io.BytesIO()
    pq.write_table(table, out)
    return out.getvalue()


def _contract_table(stream: str, records: list[dict[str, Any]]) -> pa.Table:
    contract = CONTRACTS[stream]
    schema = pa.schema([(f.name, ARROW_TYPES[f.type]) for f in contract.fields])
    columns = {
        f.name: [_ts(r[f.name]) if f.type is FieldType.TIMESTAMP else r.get(f.name) for r in records]
        for f in contract.fields
    }
    return pa.Table.from_pydict(columns, schema=schema)


def _athena(settings: Settings, database: str, sql: str) -> list[dict[str, Any]]:
    athena = settings.boto3_client("athena")
    qid = athena.start_query_execution(
        QueryString=sql,
        QueryExecutionContext={"Database": database},
        ResultConfiguration={"OutputLocation": settings.athena_output},
    )["QueryExecutionId"]
    deadline = time.monotonic() + 60
    while True:
        status = athena.get_query_execution(QueryExecutionId=qid)["QueryExecution"]["Status"]
        if status["State"] in ("SUCCEEDED", "FAILED", "CANCELLED"):
            break
        assert time.monotonic() < deadline, f"query still {status['State']}: {sql}"
        time.sleep(0.2)
    assert status["State"] == "SUCCEEDED", f"{status.get('StateChangeReason')}\n{sql}"
    rows: list[dict[str, Any]] = []
    columns = None
    for page in athena.get_paginator("get_query_results").paginate(QueryExecutionId=qid):
        data = page["ResultSet"]["Rows"]
        if columns is None:
            columns = [c["Name"] for c in page["ResultSet"]["ResultSetMetadata"]["ColumnInfo"]]
            data = data[1:]
        for row in data:
            values = [cell.get("VarCharValue") for cell in row["Data"]]
            rows.append(
                {
                    c: int(v) if v is not None and v.lstrip("-").isdigit() else v
                    for c, v in zip(columns, values, strict=True)
                }
            )
    return rows


def _crawl(settings: Settings, names: LakeNames) -> None:
    glue = settings.boto3_client("glue")
    for config in crawler_configs(names).values():
        glue.create_crawler(**config)
        glue.start_crawler(Name=config["Name"])
    for name in crawler_configs(names):
        deadline = time.monotonic() + 120
        while (crawler := glue.get_crawler(Name=name)["Crawler"])["State"] != "READY" or "LastCrawl" not in crawler:
            assert time.monotonic() < deadline, f"crawler {name} still {crawler['State']}"
            time.sleep(0.5)
        assert crawler["LastCrawl"]["Status"] == "SUCCEEDED", crawler["LastCrawl"]


@pytest.fixture(scope="module")
def lake(stack: Settings) -> dict[str, Any]:
    """A crawled lake of two vehicles' journey (valid rows per stream) plus a quarantine, and its report."""
    run = uuid.uuid4().hex[:8]
    names = LakeNames.from_settings(stack)
    names = LakeNames(**{**names.__dict__, "database": f"checks_{run}", "lake_prefix": f"pytest-checks-{run}/"})
    s3 = stack.boto3_client("s3")
    config = SimConfig(vehicles=2, seed=7, start_time=START, departure_interval_s=60, emergency_rate_per_hour=2.0)
    by_stream: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for _, stream, record in itertools.islice(simulate(config), 600):
        by_stream[stream].append(record)
    for stream, records in by_stream.items():
        by_date = defaultdict(list)
        for record in records:
            by_date[record["event_time"][:10]].append(record)
        for day, rows in by_date.items():
            key = f"{names.lake_prefix}data/{stream}/date={day}/part-00000.parquet"
            s3.put_object(Bucket=names.lake_bucket, Key=key, Body=_parquet(_contract_table(stream, rows)))
    produced_at = datetime.now(UTC)
    rejects = [("vehicle_data", "late"), ("vehicle_data", "late"), ("gps_data", "malformed_json")]
    quarantine = pa.Table.from_pylist(
        [
            {
                "reason": reason,
                "field": None,
                "detail": "test",
                "raw": "{}",
                "topic": stream,
                "partition": 0,
                "offset": i,
                "kafka_timestamp": produced_at,
                "event_id": str(uuid.uuid4()),
                "event_time": START - timedelta(hours=1),
                "batch_id": 0,
            }
            for i, (stream, reason) in enumerate(rejects)
        ],
        schema=QUARANTINE_SCHEMA,
    )
    for stream in {s for s, _ in rejects}:
        rows = quarantine.filter(pc.equal(quarantine["topic"], stream))
        key = f"{names.lake_prefix}quarantine/{stream}/date={produced_at:%Y-%m-%d}/part-00000.parquet"
        s3.put_object(Bucket=names.lake_bucket, Key=key, Body=_parquet(rows))
    # Spark's bookkeeping, which the crawlers must skip.
    s3.put_object(Bucket=names.lake_bucket, Key=f"{names.lake_prefix}data/gps_data/_spark_metadata/0", Body=b"v1")
    report = {
        "run_id": f"pytest-{run}",
        "started_at": (produced_at - timedelta(seconds=5)).isoformat(),
        "finished_at": (produced_at + timedelta(seconds=5)).isoformat(),
        "topics": {
            stream: {
                "expected_valid": len(records),
                "expected_quarantined": dict(Counter(r for s, r in rejects if s == stream)),
                "first_event_time": min(r["event_time"] for r in records),
                "last_event_time": max(r["event_time"] for r in records),
            }
            for stream, records in by_stream.items()
        },
    }
    _crawl(stack, names)
    tables = [t["Name"] for t in stack.boto3_client("glue").get_tables(DatabaseName=names.database)["TableList"]]
    yield {
        "names": names,
        "report": report,
        "tables": tables,
        "counts": {s: len(r) for s, r in by_stream.items()},
        "records": by_stream,
    }
    glue = stack.boto3_client("glue")
    for name in crawler_configs(names):
        glue.delete_crawler(Name=name)
    glue.delete_database(Name=names.database)
    listed = s3.list_objects_v2(Bucket=names.lake_bucket, Prefix=names.lake_prefix).get("Contents", [])
    for obj in listed:
        s3.delete_object(Bucket=names.lake_bucket, Key=obj["Key"])


def test_crawlers_make_one_table_per_stream_and_one_quarantine_table(lake: dict[str, Any]) -> None:
    assert sorted(lake["tables"]) == sorted([*lake["counts"], QUARANTINE_TABLE])


def test_catalog_columns_are_the_contracts(stack: Settings, lake: dict[str, Any]) -> None:
    glue = stack.boto3_client("glue")
    for stream in lake["counts"]:
        table = glue.get_table(DatabaseName=lake["names"].database, Name=stream)["Table"]
        columns = [(c["Name"], c["Type"]) for c in table["StorageDescriptor"]["Columns"]]
        assert catalog_schema_problems(stream, columns, [k["Name"] for k in table["PartitionKeys"]]) == []


def test_counts_and_reconciliation_match_what_was_written(stack: Settings, lake: dict[str, Any]) -> None:
    database = lake["names"].database
    plan = CheckPlan.build(lake["tables"], JourneyScope.from_report(lake["report"]))
    lake_rows = {r["stream"]: r["row_count"] for r in _athena(stack, database, plan.row_counts)}
    assert lake_rows == lake["counts"]
    quarantined = {(r["stream"], r["reason"]): r["row_count"] for r in _athena(stack, database, plan.quarantine_counts)}
    assert quarantined == {("vehicle_data", "late"): 2, ("gps_data", "malformed_json"): 1}
    assert reconcile(lake["report"], lake_rows, quarantined) == []
    snapshots = _athena(stack, database, plan.snapshot_uris)
    assert len(snapshots) == lake["counts"].get("traffic_data", 0) > 0


def test_contract_rules_pass_on_valid_rows(stack: Settings, lake: dict[str, Any]) -> None:
    scope = JourneyScope.from_report(lake["report"])
    rows = [
        _athena(stack, lake["names"].database, sql)[0] for sql in CheckPlan.build(lake["tables"], scope).stream_checks
    ]
    assert {r["stream"]: r["row_count"] for r in rows} == lake["counts"]
    assert quality_violations(rows) == []


def test_a_broken_row_is_named_by_rule_and_counted_by_reconciliation(stack: Settings, lake: dict[str, Any]) -> None:
    names, report = lake["names"], lake["report"]
    good = _contract_table("vehicle_data", [])  # empty table of the right schema, then one bad row
    twin = lake["records"]["vehicle_data"][0]  # the bad row happens at the same instant as this one
    bad = dict.fromkeys(good.column_names)
    bad.update(
        event_id=str(uuid.uuid4()), vehicle_id=twin["vehicle_id"], event_time=_ts(twin["event_time"]),
        schema_version=1, latitude=14.6, longitude=121.1, speed_kmh=300.0, heading_deg=10.0, direction="X",
        make="Toyota", model=None, year=2020, fuel_type="diesel",
    )  # fmt: skip
    first = twin["event_time"]
    key = f"{names.lake_prefix}data/vehicle_data/date={first[:10]}/part-bad.parquet"
    stack.boto3_client("s3").put_object(
        Bucket=names.lake_bucket, Key=key, Body=_parquet(pa.Table.from_pylist([bad], schema=good.schema))
    )
    scope = JourneyScope.from_report(report)
    [row] = _athena(stack, names.database, stream_check_sql("vehicle_data", scope))
    assert quality_violations([row]) == [
        "vehicle_data: 1 row(s) with speed_kmh outside [0, 250]",
        "vehicle_data: 1 row(s) with direction not one of ['N', 'NE', 'E', 'SE', 'S', 'SW', 'W', 'NW']",
        "vehicle_data: 1 row(s) with model is null",
        "vehicle_data: 1 row(s) with two events of one vehicle at the same instant",
    ]
    lake_rows = {
        r["stream"]: r["row_count"]
        for r in _athena(stack, names.database, CheckPlan.build(lake["tables"], scope).row_counts)
    }
    expected = lake["counts"]["vehicle_data"]
    assert reconcile(report, lake_rows, {("vehicle_data", "late"): 2, ("gps_data", "malformed_json"): 1}) == [
        f"vehicle_data: the lake has {expected + 1:,} rows, the producer's report expects {expected:,} "
        "(1 more than sent)"
    ]
