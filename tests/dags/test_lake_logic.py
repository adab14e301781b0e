"""The pure logic behind the DAGs: reconciliation, check evaluation, scoping, crawler definitions."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from plugins.journey import JOURNEY_GAP, journey_id, last_event_time, next_journey_start
from plugins.lake import (
    CRAWLER_EXCLUSIONS,
    CheckPlan,
    JourneyScope,
    LakeNames,
    catalog_schema_problems,
    crawler_configs,
    quality_violations,
    reconcile,
    row_counts_sql,
    stream_check_sql,
)
from smartcity.contracts.records import CONTRACTS, GPS, VEHICLE
from smartcity.settings import Settings

NAMES = LakeNames("lake-b", "images-b", "s3://results-b/out/", "smartcity", "crawler-role")


def _topic(valid: int, quarantined: dict[str, int] | None = None, first: str | None = None, last: str | None = None):
    return {
        "expected_valid": valid,
        "expected_quarantined": quarantined or {},
        "expected_duplicates": 0,
        "first_event_time": first,
        "last_event_time": last,
    }


REPORT = {
    "run_id": "journey-1",
    "status": "completed",
    "started_at": "2025-03-01T05:59:00+00:00",
    "finished_at": "2025-03-01T06:03:00+00:00",
    "topics": {
        "vehicle_data": _topic(
            120, {"late": 2, "malformed_json": 1}, "2025-03-01T06:00:00.000Z", "2025-03-01T09:00:00.000Z"
        ),
        "gps_data": _topic(118, {}, "2025-03-01T06:00:01.000Z", "2025-03-01T09:00:01.000Z"),
        "emergency_data": _topic(0),
    },
}


def test_reconcile_accepts_matching_counts() -> None:
    lake = {"vehicle_data": 120, "gps_data": 118}
    quarantine = {("vehicle_data", "late"): 2, ("vehicle_data", "malformed_json"): 1}
    assert reconcile(REPORT, lake, quarantine) == []


def test_reconcile_names_stream_and_difference() -> None:
    problems = reconcile(REPORT, {"vehicle_data": 113, "gps_data": 119}, {("vehicle_data", "late"): 2})
    assert problems == [
        "vehicle_data: the lake has 113 rows, the producer's report expects 120 (7 missing)",
        "vehicle_data: the quarantine has 0 'malformed_json' rows, the report injected 1 (-1)",
        "gps_data: the lake has 119 rows, the producer's report expects 118 (1 more than sent)",
    ]


def test_reconcile_flags_quarantine_reasons_nobody_injected_and_unknown_streams() -> None:
    lake = {"vehicle_data": 120, "gps_data": 118, "weather_data": 5}
    quarantine = {("vehicle_data", "late"): 2, ("vehicle_data", "malformed_json"): 1, ("gps_data", "out_of_range"): 4}
    assert reconcile(REPORT, lake, quarantine) == [
        "gps_data: the quarantine has 4 'out_of_range' rows, the report injected 0 (+4)",
        "weather_data: 5 rows in the lake for a stream this run did not produce",
    ]


def test_quality_violations_describe_the_rule() -> None:
    rows = [
        {"stream": "vehicle_data", "row_count": 10, "null__event_id": 0, "range__speed_kmh": 3, "enum__direction": 1},
        {"stream": "gps_data", "row_count": 5, "order__event_time": 2},
    ]
    assert quality_violations(rows) == [
        "vehicle_data: 3 row(s) with speed_kmh outside [0, 250]",
        "vehicle_data: 1 row(s) with direction not one of ['N', 'NE', 'E', 'SE', 'S', 'SW', 'W', 'NW']",
        "gps_data: 2 row(s) with two events of one vehicle at the same instant",
    ]


def test_stream_check_sql_covers_every_contract_rule() -> None:
    sql = stream_check_sql(VEHICLE.stream)
    for spec in VEHICLE.fields:
        assert f"null__{spec.name}" in sql
        if spec.minimum is not None:
            assert f"range__{spec.name}" in sql
        if spec.enum:
            assert f"enum__{spec.name}" in sql
    assert "pattern__event_id" in sql
    assert sql.splitlines()[0] == "-- check vehicle_data"
    # An optional field may be null, but not out of range.
    gps = stream_check_sql(GPS.stream)
    assert "null__accuracy_m" not in gps and "range__accuracy_m" in gps


def test_scope_selects_one_journey_by_event_time_and_produce_time() -> None:
    scope = JourneyScope.from_report(REPORT)
    sql = row_counts_sql(["vehicle_data", "gps_data", "emergency_data"], scope)
    assert "date BETWEEN '2025-03-01' AND '2025-03-01'" in sql
    start, end = datetime(2025, 3, 1, 6, tzinfo=UTC).timestamp(), datetime(2025, 3, 1, 9, tzinfo=UTC).timestamp()
    assert f"to_unixtime(event_time) BETWEEN {start:.3f} AND {end:.3f}" in sql
    # A stream without good records in this run counts nothing of earlier runs.
    assert "FROM emergency_data WHERE false" in sql
    quarantine = CheckPlan.build(["quarantine"], scope).quarantine_counts
    produced = [datetime(2025, 3, 1, 5, 58, tzinfo=UTC).timestamp(), datetime(2025, 3, 1, 6, 4, tzinfo=UTC).timestamp()]
    assert f"to_unixtime(kafka_timestamp) BETWEEN {produced[0]:.3f} AND {produced[1]:.3f}" in quarantine


def test_plans_for_an_empty_catalog_return_empty_results_of_the_right_shape() -> None:
    plan = CheckPlan.build([])
    assert plan.stream_checks == []
    for sql in (plan.row_counts, plan.quarantine_counts, plan.snapshot_uris):
        assert sql.endswith("WHERE false")


def test_catalog_schema_problems() -> None:
    columns = [(n, t) for n, t in VEHICLE.glue_columns() if n != "make"] + [("speed_kmh_x", "double")]
    columns = [(n, "string" if n == "year" else t) for n, t in columns]
    assert catalog_schema_problems("vehicle_data", columns, ["dt"]) == [
        "vehicle_data: column make missing from the catalog",
        "vehicle_data: column year is string in the catalog, the contract says int",
        "vehicle_data: columns not in the contract: speed_kmh_x",
        "vehicle_data: partition keys ['dt'], expected ['date']",
    ]
    assert catalog_schema_problems("vehicle_data", VEHICLE.glue_columns(), ["date"]) == []


def test_crawler_configs_pin_table_roots_and_exclude_spark_bookkeeping() -> None:
    configs = crawler_configs(NAMES)
    assert set(configs) == {"smartcity_lake_data", "smartcity_lake_quarantine"}
    data = configs["smartcity_lake_data"]
    assert data["Targets"]["S3Targets"] == [{"Path": "s3://lake-b/data/", "Exclusions": list(CRAWLER_EXCLUSIONS)}]
    assert json.loads(data["Configuration"])["Grouping"]["TableLevelConfiguration"] == 3
    quarantine = configs["smartcity_lake_quarantine"]
    assert json.loads(quarantine["Configuration"])["Grouping"]["TableLevelConfiguration"] == 2
    assert {c["DatabaseName"] for c in configs.values()} == {"smartcity"}
    assert {c["Role"] for c in configs.values()} == {"crawler-role"}


def test_lake_names_come_from_settings() -> None:
    names = LakeNames.from_settings(Settings(lake_bucket="l", athena_output="s3://r/x/", glue_database="db"))
    assert (names.lake_uri, names.athena_results_bucket, names.data_crawler) == ("s3://l/data/", "r", "db_lake_data")


# --- journey planning --------------------------------------------------------------------------------------------
def test_journey_id_is_a_safe_file_name_and_key() -> None:
    assert journey_id("manual__2025-03-01T06:00:00.123+00:00") == "manual__2025-03-01T06-00-00.123-00-00"
    assert journey_id("scheduled__x/../y") == "scheduled__x-..-y"


def test_first_journey_starts_now() -> None:
    now = datetime(2025, 3, 1, 6, 0, 0, 500_000, tzinfo=UTC)
    assert next_journey_start([], now) == now.replace(microsecond=0)


def test_next_journey_continues_after_the_last_event_of_the_previous_ones() -> None:
    now = datetime(2025, 3, 1, 6, 0, tzinfo=UTC)
    previous = [REPORT, {"topics": {"gps_data": _topic(1, None, "2025-03-01T04:00:00Z", "2025-03-01T05:00:00Z")}}]
    assert last_event_time(REPORT) == datetime(2025, 3, 1, 9, 0, 1, tzinfo=UTC)
    assert next_journey_start(previous, now) == datetime(2025, 3, 1, 9, 0, 1, tzinfo=UTC) + JOURNEY_GAP
    # Even when the previous journey ended long ago: the job's watermark is what the new journey follows.
    assert next_journey_start(previous, now + timedelta(days=3)) == datetime(2025, 3, 1, 9, 5, 1, tzinfo=UTC)


@pytest.mark.parametrize("stream", list(CONTRACTS))
def test_every_stream_has_a_check_query(stream: str) -> None:
    plan = CheckPlan.build(list(CONTRACTS))
    assert any(sql.startswith(f"-- check {stream}\n") for sql in plan.stream_checks)
