"""Unit tests of the stand-in's logic: no server, no S3."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.fs as pafs
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from smartcity.standin import crawler, partition_filter, protocol
from smartcity.standin.errors import AwsError
from smartcity.standin.lake import LocationError, parse_s3_uri
from smartcity.standin.paging import decode_token, encode_token
from smartcity.standin.query_engine import QueryFailed, _name_like_athena, column_info, parse, statement_kind
from smartcity.standin.sigv4 import SignedRequest, SigV4Checker
from smartcity.standin.store import Store
from smartcity.standin.tables import HiveTypeError, Part, TableSource, arrow_type, duck_type


# ------------------------------------------------------------------------------ exclusions (Glue globs)
@pytest.mark.parametrize(
    ("pattern", "key", "excluded"),
    [
        ("_spark_metadata", "_spark_metadata/0", True),  # a folder pattern excludes what is inside
        ("**/_spark_metadata", "vehicle_data/_spark_metadata/0", True),
        ("**/_spark_metadata", "vehicle_data/date=2024-01-01/part-0.parquet", False),
        ("**spark_metadata**", "a/b/_spark_metadata/c.parquet", True),
        ("*.csv", "file.csv", True),
        ("*.csv", "dir/file.csv", False),  # * stays within one folder
        ("**.csv", "dir/file.csv", True),
        ("dep?rtments/**", "departments/x.parquet", True),
        ("{a,b}/*.parquet", "b/x.parquet", True),
        ("{a,b}/*.parquet", "c/x.parquet", False),
        ("[!x]*/**", "y1/x.parquet", True),
        ("[!x]*/**", "x1/x.parquet", False),
    ],
)
def test_exclusions_follow_glue_glob_rules(pattern: str, key: str, excluded: bool) -> None:
    assert crawler.Exclusions([pattern]).excluded(key) is excluded


# ------------------------------------------------------------------------------ S3 locations
@pytest.mark.parametrize(
    "uri",
    [
        "s3://bucket/a/../b/",
        "s3://bucket/./a",
        "s3://bucket//a",
        "s3://bucket/a\\b",
        "s3://bucket/a\x00b",
        "s3a://bucket/a",
        "http://bucket/a",
        "s3://Bad_Bucket/a",
        "s3://../a",
        "",
    ],
)
def test_tricky_locations_are_refused(uri: str) -> None:
    with pytest.raises(LocationError):
        parse_s3_uri(uri)


def test_plain_locations_parse() -> None:
    location = parse_s3_uri("s3://lake-bucket/data/vehicle_data/")
    assert (location.bucket, location.key, location.fs_path) == (
        "lake-bucket",
        "data/vehicle_data/",
        "lake-bucket/data/vehicle_data",
    )
    assert parse_s3_uri("s3://lake-bucket").key == ""


# ------------------------------------------------------------------------------ types
@pytest.mark.parametrize(
    ("arrow", "hive"),
    [
        (pa.string(), "string"),
        (pa.int32(), "int"),
        (pa.int64(), "bigint"),
        (pa.float64(), "double"),
        (pa.float32(), "float"),
        (pa.bool_(), "boolean"),
        (pa.timestamp("us", tz="UTC"), "timestamp"),
        (pa.timestamp("ns"), "timestamp"),
        (pa.date32(), "date"),
        (pa.decimal128(10, 2), "decimal(10,2)"),
        (pa.list_(pa.int64()), "array<bigint>"),
        (pa.struct([("a", pa.int32()), ("b", pa.string())]), "struct<a:int,b:string>"),
        (pa.map_(pa.string(), pa.float64()), "map<string,double>"),
        (pa.dictionary(pa.int32(), pa.string()), "string"),
    ],
)
def test_arrow_types_map_to_glue_types_and_back(arrow: pa.DataType, hive: str) -> None:
    assert crawler.hive_type(arrow) == hive
    back = arrow_type(hive)
    assert crawler.hive_type(back) == hive


@pytest.mark.parametrize("bad", ["array<", "struct<a>", "nosuchtype", "map<string>", "decimal(x)"])
def test_bad_hive_types_are_reported(bad: str) -> None:
    with pytest.raises((HiveTypeError, ValueError)):
        arrow_type(bad)


# ------------------------------------------------------------------------------ which reader a table gets
def source(locations: dict[str, list[str]], files: list[str], column_type: str = "bigint") -> TableSource:
    table = {"StorageDescriptor": {"Location": "s3://lake/data/t/"}}
    infos = [pafs.FileInfo(path, pafs.FileType.File, size=10) for path in files]
    parts = [Part(parse_s3_uri(location), values, infos) for location, values in locations.items()]
    return TableSource(table, parts, [("n", column_type)], [("date", "string")])


def test_native_reader_only_when_folders_spell_the_partition_values() -> None:
    files = ["lake/data/t/date=2024-01-01/part-0.parquet"]
    assert source({"s3://lake/data/t/date=2024-01-01/": ["2024-01-01"]}, files).native()
    assert not source({"s3://lake/data/t/date=2024-01-01/": ["first"]}, files).native()
    assert not source({"s3://lake/data/t/2024-01-01/": ["2024-01-01"]}, files).native()
    assert not source({"s3://lake/data/t/date=a%3Ab/": ["a%3Ab"]}, files).native()
    assert not source({"s3://lake/data/t/date=1/": ["1"]}, files, column_type="array<int>").native()
    assert not source({"s3://lake/data/t/date=1/": ["1"]}, ["lake/data/t/date=1/part[1].parquet"]).native()


@pytest.mark.parametrize(
    ("hive", "duck"),
    [
        ("string", "VARCHAR"),
        ("int", "INTEGER"),
        ("bigint", "BIGINT"),
        ("decimal(10, 2)", "DECIMAL(10,2)"),
        ("map<string,int>", None),
    ],
)
def test_duckdb_types_of_hive_types(hive: str, duck: str | None) -> None:
    assert duck_type(hive) == duck


# ------------------------------------------------------------------------------ crawl planning
def plan(paths: dict[str, pa.Schema], root: str = "lake/data", **options) -> dict[str, crawler.Dataset]:
    files = [crawler.DataFile(path, 10, 1, schema) for path, schema in paths.items()]
    root_level = len(root.split("/"))
    datasets = crawler._plan(crawler._tree(root, files), root_level, options.get("table_level"), False)
    return {dataset.name: dataset for dataset in datasets}


VEHICLE = pa.schema([("vehicle_id", pa.string()), ("speed", pa.float64())])
GPS = pa.schema([("vehicle_id", pa.string()), ("latitude", pa.float64())])


def test_each_stream_folder_becomes_a_table_partitioned_by_its_hive_keys() -> None:
    tables = plan(
        {
            "lake/data/vehicle_data/date=2024-01-01/p0.parquet": VEHICLE,
            "lake/data/vehicle_data/date=2024-01-02/p0.parquet": VEHICLE,
            "lake/data/gps_data/date=2024-01-01/hour=03/p0.parquet": GPS,
        }
    )
    assert set(tables) == {"vehicle_data", "gps_data"}
    assert tables["vehicle_data"].key_names() == ["date"]
    assert sorted(tables["vehicle_data"].partitions) == [("2024-01-01",), ("2024-01-02",)]
    assert tables["gps_data"].key_names() == ["date", "hour"]
    assert tables["gps_data"].partition_location(("2024-01-01", "03")) == "lake/data/gps_data/date=2024-01-01/hour=03"


def test_same_schema_plain_folders_become_partition_n_of_one_table() -> None:
    tables = plan({"lake/data/2024/01/p.parquet": VEHICLE, "lake/data/2024/02/p.parquet": VEHICLE})
    assert list(tables) == ["data"]
    assert tables["data"].key_names() == ["partition_0", "partition_1"]
    assert sorted(tables["data"].partitions) == [("2024", "01"), ("2024", "02")]


def test_a_lone_stream_folder_is_its_own_table() -> None:
    tables = plan({"lake/data/vehicle_data/date=2024-01-01/p.parquet": VEHICLE})
    assert list(tables) == ["vehicle_data"]


def test_plain_folders_with_different_columns_are_separate_tables() -> None:
    tables = plan({"lake/data/a/p.parquet": VEHICLE, "lake/data/b/p.parquet": GPS})
    assert set(tables) == {"a", "b"} and not tables["a"].keys


def test_schema_evolution_across_partitions_unifies_columns() -> None:
    newer = VEHICLE.append(pa.field("heading", pa.float64()))
    tables = plan({"lake/data/v/date=1/p.parquet": VEHICLE, "lake/data/v/date=2/p.parquet": newer})
    assert tables["v"].schema.names == ["vehicle_id", "speed", "heading"]


def test_conflicting_types_fall_back_to_string() -> None:
    one = pa.schema([("x", pa.int64())])
    other = pa.schema([("x", pa.string())])
    assert crawler.unify([one, other]).field("x").type == pa.string()


def test_table_level_configuration_forces_the_table_root() -> None:
    tables = plan(
        {"lake/data/vehicle_data/date=1/p.parquet": VEHICLE, "lake/data/gps_data/date=1/p.parquet": GPS}, table_level=2
    )
    assert list(tables) == ["data"]
    assert tables["data"].key_names()[0] == "partition_0"


def test_quarantine_layout_at_table_level_two() -> None:
    """The project's quarantine crawler: one table, partitioned by stream folder and date."""
    reject = pa.schema([("raw", pa.string()), ("reason", pa.string())])
    tables = plan(
        {
            "lake/quarantine/gps_data/date=2024-01-01/p.parquet": reject,
            "lake/quarantine/vehicle_data/date=2024-01-02/p.parquet": reject,
        },
        root="lake/quarantine",
        table_level=2,
    )
    assert list(tables) == ["quarantine"]
    assert tables["quarantine"].key_names() == ["partition_0", "date"]
    assert sorted(tables["quarantine"].partitions) == [("gps_data", "2024-01-01"), ("vehicle_data", "2024-01-02")]
    assert (
        tables["quarantine"].partition_location(("gps_data", "2024-01-01"))
        == "lake/quarantine/gps_data/date=2024-01-01"
    )


def test_table_level_three_gives_one_table_per_stream() -> None:
    tables = plan({"lake/data/vehicle_data/date=1/p.parquet": VEHICLE, "lake/data/stray.parquet": GPS}, table_level=3)
    assert list(tables) == ["vehicle_data"]
    assert tables["vehicle_data"].key_names() == ["date"]


def test_table_names_follow_glue() -> None:
    assert crawler.table_name("Vehicle-Data.v2", "raw_") == "raw_vehicle_data_v2"


# ------------------------------------------------------------------------------ partition expressions
KEYS = [("date", "string"), ("hour", "int")]
VALUES = [["2024-01-01", "1"], ["2024-01-01", "12"], ["2024-01-02", "3"]]


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("date='2024-01-01'", [0, 1]),
        ("hour > 2", [1, 2]),  # int keys compare as numbers, not strings
        ("date = '2024-01-01' AND NOT hour = 1", [1]),
        ("hour IN (1, 3)", [0, 2]),
        ("hour BETWEEN 2 AND 12", [1, 2]),
        ("date LIKE '2024-01-0%' AND hour < 2", [0]),
        ("date IS NULL", []),
    ],
)
def test_partition_expressions(expression: str, expected: list[int]) -> None:
    assert partition_filter.matching(expression, KEYS, VALUES) == expected


@pytest.mark.parametrize(
    "expression",
    ["", "date =", "nope = 1", "read_csv('/etc/passwd') IS NULL", "date = (SELECT 1)", "t.date = '1'"],
)
def test_bad_partition_expressions_are_client_errors(expression: str) -> None:
    with pytest.raises(AwsError) as error:
        partition_filter.matching(expression, KEYS, VALUES)
    assert error.value.code == "InvalidInputException"


# ------------------------------------------------------------------------------ protocol
def test_validation_messages_read_like_aws() -> None:
    model = protocol.operation_model("glue", "CreateCrawler")
    assert model is not None
    with pytest.raises(AwsError) as error:
        protocol.validate_input(model, {"Name": "", "Targets": {"S3Targets": [{"Path": 5}]}})
    message = error.value.message
    assert error.value.code == "ValidationException"
    assert message.startswith("3 validation errors detected: ")
    assert "Value null at 'role' failed to satisfy constraint: Member must not be null" in message
    assert "at 'name' failed to satisfy constraint: Member must have length greater than or equal to 1" in message
    assert "at 'targets.s3Targets.1.member.path' failed to satisfy constraint: Member must be a string" in message


def test_unknown_members_are_ignored_like_aws() -> None:
    model = protocol.operation_model("glue", "GetDatabase")
    assert model is not None
    protocol.validate_input(model, {"Name": "db", "SomethingNewer": 1})


def test_malformed_bodies() -> None:
    assert protocol.parse_body(b"") == {}
    for body in (b"{", b"[]", b"\xff\xfe"):
        with pytest.raises(AwsError) as error:
            protocol.parse_body(body)
        assert error.value.code == "SerializationException"


def test_pagination_tokens_round_trip_and_reject_forgeries() -> None:
    assert decode_token(encode_token("abc")) == "abc"
    assert decode_token(encode_token(5), int) == 5
    for forged in ("%%%", encode_token({"a": 1}), encode_token(True)):
        with pytest.raises(AwsError):
            decode_token(forged, int)


# ------------------------------------------------------------------------------ SigV4
def signed_request(secret: str, *, when: datetime | None = None, service: str = "glue") -> SignedRequest:
    request = AWSRequest(
        method="POST",
        url="http://127.0.0.1:4566/",
        data=b'{"Name": "db"}',
        headers={"X-Amz-Target": "AWSGlue.GetDatabase", "Content-Type": "application/x-amz-json-1.1"},
    )
    signer = SigV4Auth(Credentials("AKIDEXAMPLE", secret), service, "us-east-1")
    if when is None:
        signer.add_auth(request)
    else:
        request.context["timestamp"] = when.strftime("%Y%m%dT%H%M%SZ")
        request.headers["X-Amz-Date"] = request.context["timestamp"]
        request.headers["host"] = "127.0.0.1:4566"
        canonical = signer.canonical_request(request)
        signature = signer.signature(signer.string_to_sign(request, canonical), request)
        request.headers["Authorization"] = (
            f"AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/{when:%Y%m%d}/us-east-1/{service}/aws4_request, "
            f"SignedHeaders={signer.signed_headers(signer.headers_to_sign(request))}, Signature={signature}"
        )
    headers = {key.lower(): value for key, value in request.headers.items()}
    headers.setdefault("host", "127.0.0.1:4566")
    return SignedRequest("POST", request.url, headers, request.body)


def test_sigv4_accepts_botocore_signatures_and_refuses_the_rest() -> None:
    checker = SigV4Checker("AKIDEXAMPLE", "right-secret")
    assert checker.verify(signed_request("right-secret"), expected_service="glue").access_key == "AKIDEXAMPLE"
    cases = [
        (signed_request("wrong-secret"), "InvalidSignatureException"),
        (signed_request("right-secret", service="athena"), "InvalidSignatureException"),
        (signed_request("right-secret", when=datetime.now(UTC) - timedelta(minutes=20)), "InvalidSignatureException"),
    ]
    for request, code in cases:
        with pytest.raises(AwsError) as error:
            checker.verify(request, expected_service="glue")
        assert error.value.code == code
    tampered = signed_request("right-secret")
    tampered = SignedRequest(tampered.method, tampered.url, tampered.headers, b'{"Name": "other"}')
    with pytest.raises(AwsError) as error:
        checker.verify(tampered, expected_service="glue")
    assert error.value.code == "InvalidSignatureException"
    with pytest.raises(AwsError) as error:
        SigV4Checker("OTHERKEY", "right-secret").verify(signed_request("right-secret"), expected_service="glue")
    assert error.value.code == "UnrecognizedClientException"


# ------------------------------------------------------------------------------ queries
def test_statements_are_classified_like_athena() -> None:
    assert statement_kind(parse("SELECT 1", None)) == ("DML", "SELECT")
    assert statement_kind(parse("WITH a AS (SELECT 1) SELECT * FROM a", None)) == ("DML", "SELECT")
    assert statement_kind(parse("DROP TABLE x", None))[0] == "DDL"


def test_execution_parameters_are_bound_as_literals_only() -> None:
    tree = parse("SELECT * FROM t WHERE a = ? AND b = ?", ["'x'", "3"])
    assert "a = 'x'" in tree.sql() and "b = 3" in tree.sql()
    with pytest.raises(QueryFailed, match="INVALID_PARAMETER_USAGE"):
        parse("SELECT ?", ["(SELECT 1)"])
    with pytest.raises(QueryFailed, match="INVALID_PARAMETER_USAGE"):
        parse("SELECT ?", [])


def test_the_projects_athena_checks_translate_and_run_in_duckdb() -> None:
    """The data-quality SQL the DAGs send (derived from the record contracts) is accepted as Athena would."""
    from plugins.lake import CheckPlan, JourneyScope
    from smartcity.contracts.records import CONTRACTS

    con = duckdb.connect()
    for stream, contract in CONTRACTS.items():
        fields = [pa.field(name, arrow_type(kind)) for name, kind in contract.glue_columns()]
        con.register(stream, pa.schema([*fields, pa.field("date", pa.string())]).empty_table())
    report = {
        "started_at": "2024-01-01T00:00:00Z",
        "finished_at": "2024-01-01T01:00:00Z",
        "topics": {
            s: {"first_event_time": "2024-01-01T00:00:00Z", "last_event_time": "2024-01-01T01:00:00Z"}
            for s in CONTRACTS
        },
    }
    for scope in (None, JourneyScope.from_report(report)):
        plan = CheckPlan.build(CONTRACTS, scope)
        for sql in [plan.row_counts, *plan.stream_checks]:
            translated = _name_like_athena(parse(sql, None)).sql(dialect="duckdb")
            con.execute(f"DESCRIBE {translated}").fetchall()
            rows = con.execute(translated).fetchall()
            assert rows is not None


def test_column_info_uses_athena_type_names() -> None:
    assert column_info("n", "BIGINT")["Type"] == "bigint"
    assert column_info("v", "VARCHAR")["CaseSensitive"] is True
    decimal = column_info("d", "DECIMAL(12,3)")
    assert (decimal["Type"], decimal["Precision"], decimal["Scale"]) == ("decimal", 12, 3)
    assert column_info("l", "INTEGER[]")["Type"] == "array"
    assert column_info("t", "TIMESTAMP")["Type"] == "timestamp"


# ------------------------------------------------------------------------------ store
def test_store_survives_reopening(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.sqlite3")
    assert store.insert("table", "db", "t", {"Name": "t"})
    assert not store.insert("table", "db", "t", {"Name": "again"})
    for name in ("a", "b", "c"):
        store.put("partition", "db/t", name, {"v": name})
    store.close()
    reopened = Store(tmp_path / "s.sqlite3")
    assert reopened.get("table", "db", "t") == {"Name": "t"}
    first, after = reopened.page("partition", "db/t", after=None, limit=2)
    assert [name for name, _ in first] == ["a", "b"] and after == "b"
    rest, after = reopened.page("partition", "db/t", after=after, limit=2)
    assert [name for name, _ in rest] == ["c"] and after is None
    with pytest.raises(RuntimeError), reopened.transaction():
        reopened.put("table", "db", "u", {})
        raise RuntimeError
    assert reopened.get("table", "db", "u") is None  # rolled back
