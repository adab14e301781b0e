"""Timestamp predicates as Athena runs them, on both ways the stand-in reads a table.

Spark writes event times UTC-adjusted (Parquet ``isAdjustedToUTC``; pyarrow reads ``timestamp[us, UTC]``),
other writers write them naive; the Glue type is ``timestamp`` either way and Athena compares it with
``TIMESTAMP '…'`` literals (with or without a zone) and ``from_iso8601_timestamp``. A table whose columns
DuckDB cannot read natively (a struct, like a camera's location) goes through the pyarrow route instead.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import numpy as np
import pyarrow as pa
import pytest

from standin.standin_helpers import SampleLake, StandinProcess, all_rows, crawl_into, run_query

pytestmark = pytest.mark.integration

DATABASE = f"standin_ts_{uuid.uuid4().hex[:6]}"
DAY = "2024-03-01"
START = datetime(2024, 3, 1, 6, 0, tzinfo=UTC)
END = datetime(2024, 3, 1, 18, 0, tzinfo=UTC)


def _times(rows: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.datetime64(f"{DAY}T00:00:00", "us") + rng.integers(0, 86_400_000_000, rows).astype("timedelta64[us]")


def _table(times: np.ndarray, *, zoned: bool, with_struct: bool) -> pa.Table:
    kind = pa.timestamp("us", tz="UTC") if zoned else pa.timestamp("us")
    columns = {"event_id": pa.array([f"e{i}" for i in range(len(times))]), "event_time": pa.array(times).cast(kind)}
    if with_struct:
        columns["location"] = pa.array(
            [{"latitude": 14.6 + i * 1e-4, "longitude": 121.1} for i in range(len(times))],
            pa.struct([("latitude", pa.float64()), ("longitude", pa.float64())]),
        )
    return pa.table(columns)


DATASETS = {
    # name: (zoned, with_struct) -> native DuckDB route without a struct, pyarrow route with one
    "zoned_native": (True, False),
    "naive_native": (False, False),
    "zoned_arrow": (True, True),
    "naive_arrow": (False, True),
}


@pytest.fixture(scope="module")
def timestamp_lake(stack, s3fs, tmp_path_factory) -> tuple[SampleLake, dict[str, int]]:
    """Four one-partition datasets and, for each, how many rows fall in [START, END] (counted with numpy)."""
    lake = SampleLake(stack.lake_bucket, f"standin-ts-{uuid.uuid4().hex[:8]}", tmp_path_factory.mktemp("ts"), s3fs)
    expected = {}
    for seed, (name, (zoned, with_struct)) in enumerate(DATASETS.items()):
        times = _times(2_000, seed)
        lake.write(f"data/{name}/date={DAY}/part-0.parquet", _table(times, zoned=zoned, with_struct=with_struct))
        low = np.datetime64(START.replace(tzinfo=None), "us")
        high = np.datetime64(END.replace(tzinfo=None), "us")
        expected[name] = int(((times >= low) & (times <= high)).sum())
    return lake, expected


@pytest.fixture(scope="module")
def crawled_timestamps(standin: StandinProcess, timestamp_lake) -> tuple[object, dict[str, int]]:
    lake, expected = timestamp_lake
    glue = standin.client("glue")
    crawl_into(glue, DATABASE, lake.data_uri)
    tables = {t["Name"]: t for t in glue.get_tables(DatabaseName=DATABASE)["TableList"]}
    assert set(tables) == set(DATASETS)
    for table in tables.values():
        types = {c["Name"]: c["Type"] for c in table["StorageDescriptor"]["Columns"]}
        assert types["event_time"] == "timestamp"
    return standin.client("athena"), expected


PREDICATES = [
    f"event_time BETWEEN TIMESTAMP '{START:%Y-%m-%d %H:%M:%S}' AND TIMESTAMP '{END:%Y-%m-%d %H:%M:%S}'",
    f"event_time BETWEEN TIMESTAMP '{START:%Y-%m-%d %H:%M:%S.000} UTC' AND TIMESTAMP '{END:%Y-%m-%d %H:%M:%S.000} UTC'",
    f"event_time >= from_iso8601_timestamp('{START.isoformat()}') "
    f"AND event_time <= from_iso8601_timestamp('{END.isoformat()}')",
    f"to_unixtime(event_time) BETWEEN {START.timestamp():.3f} AND {END.timestamp():.3f}",
]


@pytest.mark.parametrize("table", list(DATASETS))
@pytest.mark.parametrize("predicate", PREDICATES, ids=["literal", "literal-utc", "iso8601", "unixtime"])
def test_timestamp_predicates_count_what_athena_counts(crawled_timestamps, table: str, predicate: str) -> None:
    athena, expected = crawled_timestamps
    execution = run_query(athena, f"SELECT count(*) FROM {table} WHERE date = '{DAY}' AND {predicate}", DATABASE)
    assert execution["Status"]["State"] == "SUCCEEDED", execution["Status"]
    rows = all_rows(athena, execution["QueryExecutionId"])
    assert int(rows[1][0]) == expected[table]


@pytest.mark.parametrize("table", list(DATASETS))
def test_timestamps_render_in_utc_as_athena_does(crawled_timestamps, table: str) -> None:
    athena, _ = crawled_timestamps
    sql = f"SELECT min(event_time) FROM {table} WHERE event_time >= TIMESTAMP '{DAY} 00:00:00'"
    execution = run_query(athena, sql, DATABASE)
    assert execution["Status"]["State"] == "SUCCEEDED", execution["Status"]
    (value,) = all_rows(athena, execution["QueryExecutionId"])[1]
    assert value.startswith(DAY) and len(value) == len("2024-03-01 00:00:00.000")
