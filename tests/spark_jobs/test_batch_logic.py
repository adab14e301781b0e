"""The job's per-batch logic on a local Spark session (no Kafka, no S3): validation against the contracts'
own Python validator, watermark/dedupe decisions, and the deterministic writer on local files."""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from smartcity.contracts.model import parse_timestamp
from smartcity.contracts.records import CONTRACTS
from spark_jobs.contract_schema import REJECTIONS, spark_schema, validated
from spark_jobs.dedupe import DUPLICATE, OUTCOME, VALID, DedupeState, StateStore, classify
from spark_jobs.hadoop_fs import HadoopFs
from spark_jobs.lake_writer import write_batch
from tests.spark_jobs.spark_corpus import BASE_TIME, expected_reason, iso, mutations, valid_record

DELAY = timedelta(minutes=2)


@pytest.fixture(scope="module")
def spark() -> Iterator[SparkSession]:
    session = (
        SparkSession.builder.master("local[2]")
        .appName("test-spark-jobs")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.parquet.outputTimestampType", "TIMESTAMP_MICROS")
        .getOrCreate()
    )
    yield session
    session.stop()


@pytest.mark.parametrize("stream", list(CONTRACTS))
def test_reasons_match_the_contract_validator(spark: SparkSession, stream: str) -> None:
    contract = CONTRACTS[stream]
    rng = random.Random(stream)
    raws = []
    for i in range(8):
        record = valid_record(contract, rng, BASE_TIME + timedelta(seconds=i))
        raws.append(json.dumps(record))
        raws.extend(raw for _, raw in mutations(contract, record, rng))
    frame = spark.createDataFrame([(r,) for r in raws], "value string")
    rows = validated(frame, contract).select("value", F.get(F.col(REJECTIONS), 0)["reason"].alias("reason")).collect()

    got = {row.value: row.reason for row in rows}
    expected = {raw: expected_reason(contract, raw) for raw in raws}
    assert len(rows) == len(raws)
    mismatches = {raw[:120]: (expected[raw], got[raw]) for raw in raws if expected[raw] != got[raw]}
    assert mismatches == {}
    # The corpus exercises every reason the contract can give for this stream, and valid records.
    assert {None, "malformed_json", "missing_field", "wrong_type", "unknown_schema_version"} <= set(expected.values())


def test_valid_records_keep_their_values_and_utc_instants(spark: SparkSession) -> None:
    contract = CONTRACTS["gps_data"]
    rng = random.Random(3)
    records = [valid_record(contract, rng, BASE_TIME + timedelta(seconds=i)) for i in range(20)]
    records[0]["event_time"] = "2025-03-01T14:00:00.123456+08:00"
    frame = spark.createDataFrame([(json.dumps(r),) for r in records], "value string")
    rows = validated(frame, contract).collect()

    for record, row in zip(records, rows, strict=True):
        assert row[REJECTIONS] == []
        assert row.event_time.timestamp() == parse_timestamp(record["event_time"]).timestamp()
        for spec in contract.fields:
            if spec.name not in ("event_time",):
                assert row[spec.name] == record.get(spec.name), spec.name
    typed = validated(frame, contract).select(*contract.field_names).schema
    assert [(f.name, f.dataType) for f in typed] == [(f.name, f.dataType) for f in spark_schema(contract)]


def _batch(spark: SparkSession, rows: list[tuple[str, int, int, int]]):
    """(event_id, seconds after BASE_TIME, partition, offset) rows, plus a reject reason column (null)."""
    data = [(eid, iso(BASE_TIME + timedelta(seconds=s)), p, o) for eid, s, p, o in rows]
    return spark.createDataFrame(data, "event_id string, t string, _partition int, _offset long").select(
        "event_id", F.col("t").cast("timestamp").alias("event_time"), "_partition", "_offset", F.lit(None).alias("r")
    )


def test_dedupe_and_watermark_decide_like_spark_would(spark: SparkSession, tmp_path: Path) -> None:
    store = StateStore(spark, HadoopFs(spark), tmp_path.as_uri() + "/state", DELAY)
    first = _batch(spark, [("a", 0, 0, 0), ("b", 600, 0, 1), ("a", 0, 1, 5), ("c", 10, 0, 2), ("f", 500, 0, 3)])
    state0 = store.load(0)
    out0 = classify(first, state0, store.ids(state0), F.col("r")).collect()
    # No watermark from earlier batches yet, but c comes after b (600 s) in its partition: 10 s < 600 - 120 s,
    # so it is late even in the first batch; f (500 s) is within the delay of b and stays valid.
    assert {r.event_id: r[OUTCOME] for r in out0 if r.event_id in "cf"} == {"c": "late", "f": VALID}
    assert Counter(r[OUTCOME] for r in out0) == {VALID: 3, DUPLICATE: 1, "late": 1}
    kept_first_copy = [r for r in out0 if r.event_id == "a" and r[OUTCOME] == VALID]
    assert [(r._partition, r._offset) for r in kept_first_copy] == [(0, 0)]  # lowest partition/offset wins
    kept = first.filter(F.col("_offset").isin(0, 1, 2))
    store.save(0, state0, kept, int((BASE_TIME + timedelta(seconds=600)).timestamp() * 1_000_000))

    # Batch 1: the watermark is 600 s - 2 min = 480 s after BASE_TIME.
    state1 = store.load(1)
    assert state1.watermark == BASE_TIME + timedelta(seconds=480)
    second = _batch(spark, [("b", 600, 0, 10), ("d", 500, 0, 11), ("e", 100, 0, 12), ("a", 0, 0, 13)])
    out1 = {r.event_id: r[OUTCOME] for r in classify(second, state1, store.ids(state1), F.col("r")).collect()}
    # b was kept before and is within the watermark: duplicate; a is older than the watermark: late.
    assert out1 == {"b": DUPLICATE, "d": VALID, "e": "late", "a": "late"}

    # A retried batch 1 finds the same state again, even after batch 1 saved its own.
    store.save(1, state1, second.filter(F.col("event_id") == "d"), None)
    assert store.load(1) == state1
    assert store.load(2).batch_id == 1
    assert sorted(r.event_id for r in store.ids(store.load(2)).collect()) == ["b", "d"]  # a, c evicted


def test_state_before_any_batch_has_no_watermark(spark: SparkSession, tmp_path: Path) -> None:
    store = StateStore(spark, HadoopFs(spark), tmp_path.as_uri(), DELAY)
    assert store.load(7) == DedupeState(None, None, DELAY)
    assert store.ids(store.load(7)).count() == 0


def test_writer_names_files_by_batch_and_a_retry_replaces_them(spark: SparkSession, tmp_path: Path) -> None:
    fs = HadoopFs(spark)
    table, staging = (tmp_path / "data").as_uri(), (tmp_path / "staging").as_uri()
    frame = spark.createDataFrame(
        [(i, "2025-03-01" if i % 3 else "2025-03-02") for i in range(300)], "n int, date string"
    )
    first = write_batch(frame, fs, table, staging, 42)
    again = write_batch(frame, fs, table, staging, 42)  # the same batch, retried

    names = sorted(p.relative_to(tmp_path / "data").as_posix() for p in (tmp_path / "data").rglob("*.parquet"))
    assert names == [
        "date=2025-03-01/0000000042-000.snappy.parquet",
        "date=2025-03-02/0000000042-000.snappy.parquet",
    ]
    assert [f.uri for f in first] == [f.uri for f in again]
    leftovers = [p.name for p in (tmp_path / "data").rglob("*") if p.is_file() and not p.name.startswith(".")]
    assert sorted(leftovers) == ["0000000042-000.snappy.parquet"] * 2  # no _SUCCESS, no part-* files
    rows = sum(pq.read_table(p).num_rows for p in (tmp_path / "data").rglob("*.parquet"))
    assert rows == 300
    assert not (tmp_path / "staging" / "batch=42").exists()
