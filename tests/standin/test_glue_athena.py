"""The stand-in behind the real AWS API, against real Parquet on the stack's S3.

Expected values never come from the stand-in: they come from the files themselves (DuckDB reading the local
copies that were uploaded), from the data the test wrote, or from what AWS documents.
"""

from __future__ import annotations

import json
import math
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import duckdb
import pyarrow.fs as pafs
import pytest
import requests
from botocore import UNSIGNED
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from standin.standin_helpers import (
    SEED_EXCLUSIONS,
    SampleLake,
    StandinProcess,
    all_rows,
    gps_rows,
    run_query,
    vehicle_rows,
    wait_crawl,
)

pytestmark = pytest.mark.integration

DATABASE = f"standin_{uuid.uuid4().hex[:6]}"
CRAWLER = f"{DATABASE}_crawler"
PENDING = ("QUEUED", "RUNNING")
ROLE = "arn:aws:iam::000000000000:role/service-role/AWSGlueServiceRole-smartcity"


def duck(lake: SampleLake, sql: str) -> list[tuple]:
    """The same question asked of the local copies of the files, straight from DuckDB."""
    con = duckdb.connect()
    for stream in ("vehicle_data", "gps_data"):
        pattern = str(lake.local / "data" / stream / "date=*" / "*.parquet")
        source = f"read_parquet('{pattern}', hive_partitioning=true, union_by_name=true)"
        con.execute(f"CREATE VIEW {stream} AS SELECT * FROM {source}")
    return con.execute(sql).fetchall()


def code_of(excinfo: pytest.ExceptionInfo[ClientError]) -> str:
    return excinfo.value.response["Error"]["Code"]


@pytest.fixture(scope="module")
def glue(standin: StandinProcess):
    return standin.client("glue")


@pytest.fixture(scope="module")
def athena(standin: StandinProcess):
    return standin.client("athena")


@pytest.fixture(scope="module")
def crawled(glue, test_lake: SampleLake) -> dict:
    """The lake crawled once by a crawler configured as the project's seeds configure it."""
    glue.create_crawler(
        Name=CRAWLER,
        Role=ROLE,
        DatabaseName=DATABASE,
        Targets={"S3Targets": [{"Path": test_lake.data_uri, "Exclusions": SEED_EXCLUSIONS}]},
        SchemaChangePolicy={"UpdateBehavior": "UPDATE_IN_DATABASE", "DeleteBehavior": "LOG"},
    )
    assert glue.get_crawler(Name=CRAWLER)["Crawler"]["State"] == "READY"
    glue.start_crawler(Name=CRAWLER)
    return wait_crawl(glue, CRAWLER)


# ---------------------------------------------------------------------------------------------- crawler
def test_crawl_creates_one_table_per_dataset_with_its_partitions(glue, crawled: dict, test_lake: SampleLake) -> None:
    assert crawled["LastCrawl"]["Status"] == "SUCCEEDED"
    tables = {t["Name"]: t for t in glue.get_tables(DatabaseName=DATABASE)["TableList"]}
    assert set(tables) == {"vehicle_data", "gps_data"}  # no _spark_metadata table: excluded

    vehicle = tables["vehicle_data"]
    columns = [(c["Name"], c["Type"]) for c in vehicle["StorageDescriptor"]["Columns"]]
    assert columns == [
        ("event_id", "string"),
        ("vehicle_id", "string"),
        ("event_time", "timestamp"),
        ("speed", "double"),
        ("fuel_level", "int"),
        ("is_moving", "boolean"),
        ("schema_version", "int"),
    ]
    assert vehicle["PartitionKeys"] == [{"Name": "date", "Type": "string"}]
    assert vehicle["StorageDescriptor"]["Location"] == f"{test_lake.data_uri}vehicle_data/"
    assert vehicle["Parameters"]["classification"] == "parquet"
    assert vehicle["StorageDescriptor"]["SerdeInfo"]["SerializationLibrary"].endswith("ParquetHiveSerDe")
    assert int(vehicle["Parameters"]["recordCount"]) == duck(test_lake, "select count(*) from vehicle_data")[0][0]

    partitions = glue.get_partitions(DatabaseName=DATABASE, TableName="vehicle_data")["Partitions"]
    assert sorted(p["Values"][0] for p in partitions) == ["2024-01-01", "2024-01-02", "2024-01-03"]
    for partition in partitions:
        location = partition["StorageDescriptor"]["Location"]
        assert location == f"{test_lake.data_uri}vehicle_data/date={partition['Values'][0]}/"
    gps = glue.get_partitions(DatabaseName=DATABASE, TableName="gps_data")["Partitions"]
    assert sorted(p["Values"][0] for p in gps) == ["2024-01-01", "2024-01-02"]

    metrics = glue.get_crawler_metrics(CrawlerNameList=[CRAWLER])["CrawlerMetricsList"][0]
    assert (metrics["TablesCreated"], metrics["TablesUpdated"], metrics["TablesDeleted"]) == (2, 0, 0)
    assert metrics["LastRuntimeSeconds"] > 0


def test_without_the_exclusions_spark_metadata_would_be_a_table(glue, test_lake: SampleLake) -> None:
    """Proves the exclusion matters: the same data crawled without it catalogs the metadata folder."""
    name, database = f"{CRAWLER}_noexcl", f"{DATABASE}_noexcl"
    glue.create_crawler(
        Name=name, Role=ROLE, DatabaseName=database, Targets={"S3Targets": [{"Path": f"{test_lake.data_uri}gps_data/"}]}
    )
    glue.start_crawler(Name=name)
    assert wait_crawl(glue, name)["LastCrawl"]["Status"] == "SUCCEEDED"
    names = {t["Name"] for t in glue.get_tables(DatabaseName=database)["TableList"]}
    assert "_spark_metadata" in names


def test_crawler_states_and_errors(glue, crawled: dict, test_lake: SampleLake) -> None:
    with pytest.raises(ClientError) as error:
        glue.stop_crawler(Name=CRAWLER)
    assert code_of(error) == "CrawlerNotRunningException"
    with pytest.raises(ClientError) as error:
        glue.get_crawler(Name="no-such-crawler")
    assert code_of(error) == "EntityNotFoundException"
    with pytest.raises(ClientError) as error:
        glue.create_crawler(
            Name=CRAWLER, Role=ROLE, DatabaseName=DATABASE, Targets={"S3Targets": [{"Path": test_lake.data_uri}]}
        )
    assert code_of(error) == "AlreadyExistsException"
    for bad_path in ("s3://some-other-bucket/data/", f"s3://{test_lake.bucket}/a/../../etc/", "file:///etc/passwd"):
        with pytest.raises(ClientError) as error:
            glue.create_crawler(
                Name="bad", Role=ROLE, DatabaseName=DATABASE, Targets={"S3Targets": [{"Path": bad_path}]}
            )
        assert code_of(error) == "InvalidInputException", bad_path
    with pytest.raises(ClientError) as error:
        glue.create_crawler(
            Name="bad",
            Role=ROLE,
            DatabaseName=DATABASE,
            Targets={"S3Targets": [{"Path": test_lake.data_uri}]},
            RecrawlPolicy={"RecrawlBehavior": "CRAWL_NEW_FOLDERS_ONLY"},
        )
    assert code_of(error) == "InvalidInputException"  # needs LOG/LOG, as on AWS
    assert "bad" not in glue.list_crawlers()["CrawlerNames"]


# ---------------------------------------------------------------------------------------------- athena
@pytest.mark.parametrize(
    ("athena_sql", "duck_sql"),
    [
        ("SELECT count(*) FROM vehicle_data", "select count(*) from vehicle_data"),
        (
            "SELECT vehicle_id, count(*) AS events, avg(speed) AS avg_speed, max(fuel_level) AS max_fuel, "
            "count_if(is_moving) AS moving FROM vehicle_data GROUP BY vehicle_id ORDER BY vehicle_id",
            "select vehicle_id, count(*), avg(speed), max(fuel_level), count(*) filter (where is_moving) "
            "from vehicle_data group by 1 order by 1",
        ),
        (
            "SELECT date, count(*) FROM vehicle_data WHERE date = '2024-01-02' GROUP BY date",
            "select date, count(*) from vehicle_data where date = '2024-01-02' group by 1",
        ),
        (
            f"SELECT v.vehicle_id, count(*) FROM {DATABASE}.vehicle_data v JOIN awsdatacatalog.{DATABASE}.gps_data g "
            "ON v.vehicle_id = g.vehicle_id AND v.date = g.date GROUP BY 1 ORDER BY 1",
            "select v.vehicle_id, count(*) from vehicle_data v join gps_data g "
            "on v.vehicle_id = g.vehicle_id and v.date = g.date group by 1 order by 1",
        ),
    ],
)
def test_athena_answers_match_duckdb_on_the_files(
    athena, crawled: dict, test_lake: SampleLake, athena_sql, duck_sql
) -> None:
    execution = run_query(athena, athena_sql, DATABASE)
    assert execution["Status"]["State"] == "SUCCEEDED", execution["Status"]
    rows = all_rows(athena, execution["QueryExecutionId"])
    expected = duck(test_lake, duck_sql)
    assert len(rows) == len(expected) + 1  # header row first, as Athena
    for got, want in zip(rows[1:], expected, strict=True):
        for value, reference in zip(got, want, strict=True):
            if isinstance(reference, float):
                assert math.isclose(float(value), reference, rel_tol=1e-9)
            else:
                assert value == str(reference)


def test_results_are_paged_typed_and_written_like_athena(athena, crawled: dict, test_lake: SampleLake, s3fs) -> None:
    sql = "SELECT event_id, event_time, speed, is_moving, fuel_level FROM vehicle_data ORDER BY event_id"
    execution = run_query(athena, sql, DATABASE)
    assert execution["Status"]["State"] == "SUCCEEDED"
    query_id = execution["QueryExecutionId"]
    expected = duck(
        test_lake, "select event_id, event_time, speed, is_moving, fuel_level from vehicle_data order by event_id"
    )
    assert len(expected) > 2500  # several pages

    first = athena.get_query_results(QueryExecutionId=query_id, MaxResults=1000)
    assert len(first["ResultSet"]["Rows"]) == 1000 and "NextToken" in first
    info = first["ResultSet"]["ResultSetMetadata"]["ColumnInfo"]
    assert [(c["Name"], c["Type"]) for c in info] == [
        ("event_id", "varchar"),
        ("event_time", "timestamp"),
        ("speed", "double"),
        ("is_moving", "boolean"),
        ("fuel_level", "integer"),
    ]
    rows = all_rows(athena, query_id, page=700)
    assert rows[0] == ["event_id", "event_time", "speed", "is_moving", "fuel_level"]
    assert [row[0] for row in rows[1:]] == [row[0] for row in expected]
    _event_id, event_time, _speed, moving, fuel = expected[0]
    assert rows[1][1] == event_time.strftime("%Y-%m-%d %H:%M:%S.") + f"{event_time.microsecond // 1000:03d}"
    assert rows[1][3] == str(moving).lower() and rows[1][4] == str(fuel)
    nulls = [row for row, want in zip(rows[1:], expected, strict=True) if want[2] is None]
    assert nulls and all(row[2] is None for row in nulls)  # NULL is a cell without VarCharValue

    output = execution["ResultConfiguration"]["OutputLocation"]
    assert output.endswith(f"/{query_id}.csv")
    with s3fs.open_input_stream(output.removeprefix("s3://")) as handle:
        lines = handle.read().decode().splitlines()
    assert lines[0] == '"event_id","event_time","speed","is_moving","fuel_level"'
    assert len(lines) == len(expected) + 1
    assert s3fs.get_file_info(output.removeprefix("s3://") + ".metadata").type == pafs.FileType.File


@pytest.mark.parametrize(
    ("sql", "reason"),
    [
        ("SELEC 1", "SYNTAX_ERROR"),
        ("SELECT no_such_column FROM vehicle_data", "COLUMN_NOT_FOUND"),
        ("SELECT * FROM no_such_table", "TABLE_NOT_FOUND"),
        ("SELECT * FROM no_such_db.vehicle_data", "SCHEMA_NOT_FOUND"),
        ("SELECT * FROM read_csv('/etc/passwd')", "FUNCTION_NOT_FOUND"),
        ("DROP TABLE vehicle_data", "NOT_SUPPORTED"),
        ("SELECT 1; SELECT 2", "SYNTAX_ERROR"),
    ],
)
def test_bad_queries_fail_with_athena_reasons(athena, crawled: dict, sql: str, reason: str) -> None:
    execution = run_query(athena, sql, DATABASE)
    status = execution["Status"]
    assert status["State"] == "FAILED"
    assert status["StateChangeReason"].startswith(reason), status
    assert status["AthenaError"]["ErrorCategory"] == 2
    with pytest.raises(ClientError) as error:
        athena.get_query_results(QueryExecutionId=execution["QueryExecutionId"])
    assert code_of(error) == "InvalidRequestException"


def test_stop_query_execution_cancels_a_running_query(athena, crawled: dict) -> None:
    endless = "SELECT count(*) FROM vehicle_data a CROSS JOIN vehicle_data b CROSS JOIN vehicle_data c"
    query_id = athena.start_query_execution(QueryString=endless, QueryExecutionContext={"Database": DATABASE})[
        "QueryExecutionId"
    ]
    deadline = time.monotonic() + 30
    while athena.get_query_execution(QueryExecutionId=query_id)["QueryExecution"]["Status"]["State"] == "QUEUED":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    athena.stop_query_execution(QueryExecutionId=query_id)
    while True:
        status = athena.get_query_execution(QueryExecutionId=query_id)["QueryExecution"]["Status"]
        if status["State"] not in PENDING:
            break
        assert time.monotonic() < deadline, "the query was not interrupted"
        time.sleep(0.05)
    assert status["State"] == "CANCELLED", status


def test_query_requests_that_athena_refuses(athena, stack) -> None:
    with pytest.raises(ClientError) as error:
        athena.start_query_execution(
            QueryString="SELECT 1", ResultConfiguration={"OutputLocation": f"s3://{stack.lake_bucket}/results/"}
        )
    assert code_of(error) == "InvalidRequestException"  # the lake is not a result bucket
    with pytest.raises(ClientError) as error:
        athena.start_query_execution(QueryString="SELECT 1", WorkGroup="no-such-group")
    assert code_of(error) == "InvalidRequestException"
    with pytest.raises(ClientError) as error:
        athena.get_query_execution(QueryExecutionId=str(uuid.uuid4()))
    assert code_of(error) == "InvalidRequestException"
    with pytest.raises(ClientError) as error:
        athena.get_query_results(QueryExecutionId="x", NextToken="not-a-token")
    assert code_of(error) == "InvalidRequestException"


def test_execution_parameters_idempotency_and_history(athena, crawled: dict, test_lake: SampleLake) -> None:
    execution = run_query(
        athena,
        "SELECT count(*) FROM vehicle_data WHERE date = ? AND fuel_level >= ?",
        DATABASE,
        ExecutionParameters=["'2024-01-01'", "50"],
    )
    assert all_rows(athena, execution["QueryExecutionId"])[1] == [
        str(duck(test_lake, "select count(*) from vehicle_data where date = '2024-01-01' and fuel_level >= 50")[0][0])
    ]
    token = str(uuid.uuid4())
    first = athena.start_query_execution(QueryString="SELECT 1", ClientRequestToken=token)["QueryExecutionId"]
    again = athena.start_query_execution(QueryString="SELECT 1", ClientRequestToken=token)["QueryExecutionId"]
    assert first == again
    listed = athena.list_query_executions(WorkGroup="primary", MaxResults=50)["QueryExecutionIds"]
    assert first in listed and execution["QueryExecutionId"] in listed
    assert listed.index(first) < listed.index(execution["QueryExecutionId"])  # newest first


def test_athena_metadata_calls(athena, crawled: dict) -> None:
    databases = athena.list_databases(CatalogName="AwsDataCatalog")["DatabaseList"]
    assert DATABASE in {d["Name"] for d in databases}
    metadata = athena.get_table_metadata(CatalogName="AwsDataCatalog", DatabaseName=DATABASE, TableName="gps_data")
    table = metadata["TableMetadata"]
    assert [c["Name"] for c in table["Columns"]] == ["event_id", "vehicle_id", "latitude", "longitude"]
    assert table["PartitionKeys"][0]["Name"] == "date"
    with pytest.raises(ClientError) as error:
        athena.get_table_metadata(CatalogName="AwsDataCatalog", DatabaseName=DATABASE, TableName="nope")
    assert code_of(error) == "MetadataException"


def test_partitions_whose_folders_do_not_spell_their_values(glue, athena, crawled: dict, test_lake: SampleLake) -> None:
    """Athena takes partition values from the catalog, not from folder names (the pyarrow route)."""
    columns = [
        {"Name": n, "Type": t} for n, t in [("event_id", "string"), ("vehicle_id", "string"), ("latitude", "double")]
    ]
    location = f"{test_lake.data_uri}gps_data/"
    glue.create_table(
        DatabaseName=DATABASE,
        TableInput={
            "Name": "gps_by_label",
            "StorageDescriptor": {"Columns": columns, "Location": location},
            "PartitionKeys": [{"Name": "label", "Type": "string"}],
        },
    )
    glue.batch_create_partition(
        DatabaseName=DATABASE,
        TableName="gps_by_label",
        PartitionInputList=[
            {"Values": [label], "StorageDescriptor": {"Location": f"{location}date={day}/"}}
            for label, day in (("first", "2024-01-01"), ("second", "2024-01-02"))
        ],
    )
    execution = run_query(
        athena, "SELECT label, count(*), max(latitude) FROM gps_by_label GROUP BY 1 ORDER BY 1", DATABASE
    )
    expected = duck(test_lake, "select date, count(*), max(latitude) from gps_data group by 1 order by 1")
    rows = all_rows(athena, execution["QueryExecutionId"])[1:]
    assert [row[0] for row in rows] == ["first", "second"]
    assert [(int(row[1]), float(row[2])) for row in rows] == [(count, latitude) for _, count, latitude in expected]


def test_queries_see_files_rewritten_in_place(glue, athena, test_lake: SampleLake) -> None:
    """The stand-in's local copy of the lake follows the objects: a rewritten file is read anew."""
    glue.create_table(
        DatabaseName=DATABASE,
        TableInput={
            "Name": "rewritten",
            "StorageDescriptor": {
                "Columns": [{"Name": "vehicle_id", "Type": "string"}],
                "Location": f"s3://{test_lake.bucket}/{test_lake.prefix}/rewritten/",
            },
        },
    )
    for rows in (100, 150):
        test_lake.write("rewritten/part-0.parquet", gps_rows(rows, rows))
        execution = run_query(athena, "SELECT count(*) FROM rewritten", DATABASE)
        assert all_rows(athena, execution["QueryExecutionId"])[1] == [str(rows)]


# ---------------------------------------------------------------------------------------------- recrawl
def test_recrawl_adds_the_new_partition_and_column(glue, athena, crawled: dict, test_lake: SampleLake) -> None:
    test_lake.write(
        "data/vehicle_data/date=2024-01-04/part-0.parquet", vehicle_rows(99, 300, "2024-01-04", extra_column=True)
    )
    glue.start_crawler(Name=CRAWLER)
    assert wait_crawl(glue, CRAWLER)["LastCrawl"]["Status"] == "SUCCEEDED"

    partitions = glue.get_partitions(DatabaseName=DATABASE, TableName="vehicle_data")["Partitions"]
    assert sorted(p["Values"][0] for p in partitions) == ["2024-01-01", "2024-01-02", "2024-01-03", "2024-01-04"]
    table = glue.get_table(DatabaseName=DATABASE, Name="vehicle_data")["Table"]
    assert table["StorageDescriptor"]["Columns"][-1] == {"Name": "heading", "Type": "double"}
    metrics = glue.get_crawler_metrics(CrawlerNameList=[CRAWLER])["CrawlerMetricsList"][0]
    assert (metrics["TablesCreated"], metrics["TablesUpdated"]) == (0, 1)

    expected = duck(test_lake, "select count(*), count(heading) from vehicle_data")[0]
    execution = run_query(athena, "SELECT count(*), count(heading) FROM vehicle_data", DATABASE)
    assert all_rows(athena, execution["QueryExecutionId"])[1] == [str(v) for v in expected]
    assert glue.get_partitions(
        DatabaseName=DATABASE, TableName="vehicle_data", Expression="date > '2024-01-02' AND date <> '2024-01-04'"
    )["Partitions"][0]["Values"] == ["2024-01-03"]


def test_new_folders_only_crawler_adds_partitions_but_keeps_the_schema(glue, test_lake: SampleLake) -> None:
    name, database = f"{CRAWLER}_incremental", f"{DATABASE}_incremental"
    prefix = f"s3://{test_lake.bucket}/{test_lake.prefix}/incremental/"
    test_lake.write("incremental/events/date=2024-02-01/part-0.parquet", vehicle_rows(1, 50, "2024-02-01"))
    glue.create_crawler(
        Name=name,
        Role=ROLE,
        DatabaseName=database,
        Targets={"S3Targets": [{"Path": prefix}]},
        RecrawlPolicy={"RecrawlBehavior": "CRAWL_NEW_FOLDERS_ONLY"},
        SchemaChangePolicy={"UpdateBehavior": "LOG", "DeleteBehavior": "LOG"},
    )
    glue.start_crawler(Name=name)
    assert wait_crawl(glue, name)["LastCrawl"]["Status"] == "SUCCEEDED"
    before = glue.get_table(DatabaseName=database, Name="events")["Table"]["StorageDescriptor"]["Columns"]
    test_lake.write(
        "incremental/events/date=2024-02-02/part-0.parquet", vehicle_rows(2, 50, "2024-02-02", extra_column=True)
    )
    glue.start_crawler(Name=name)
    assert wait_crawl(glue, name)["LastCrawl"]["Status"] == "SUCCEEDED"
    table = glue.get_table(DatabaseName=database, Name="events")["Table"]
    assert table["StorageDescriptor"]["Columns"] == before  # LOG: schema change not applied
    partitions = glue.get_partitions(DatabaseName=database, TableName="events")["Partitions"]
    assert sorted(p["Values"][0] for p in partitions) == ["2024-02-01", "2024-02-02"]


# ---------------------------------------------------------------------------------------------- catalog API
def test_catalog_api_round_trip(glue, stack) -> None:
    database = f"{DATABASE}_api"
    glue.create_database(DatabaseInput={"Name": database, "Description": "made by a test"})
    with pytest.raises(ClientError) as error:
        glue.create_database(DatabaseInput={"Name": database})
    assert code_of(error) == "AlreadyExistsException"
    location = f"s3://{stack.lake_bucket}/api-table/"
    table_input = {
        "Name": "Readings",
        "StorageDescriptor": {"Columns": [{"Name": "value", "Type": "double"}], "Location": location},
        "PartitionKeys": [{"Name": "day", "Type": "string"}, {"Name": "hour", "Type": "int"}],
    }
    glue.create_table(DatabaseName=database, TableInput=table_input)
    assert glue.get_table(DatabaseName=database, Name="READINGS")["Table"]["Name"] == "readings"
    inputs = [
        {"Values": [day, str(hour)], "StorageDescriptor": {"Location": f"{location}day={day}/hour={hour}/"}}
        for day in ("2024-01-01", "2024-01-02")
        for hour in range(5)
    ]
    assert (
        glue.batch_create_partition(DatabaseName=database, TableName="readings", PartitionInputList=inputs)["Errors"]
        == []
    )
    duplicate = glue.batch_create_partition(DatabaseName=database, TableName="readings", PartitionInputList=inputs[:1])
    assert duplicate["Errors"][0]["ErrorDetail"]["ErrorCode"] == "AlreadyExistsException"

    pages = list(
        glue.get_paginator("get_partitions").paginate(
            DatabaseName=database, TableName="readings", PaginationConfig={"PageSize": 3}
        )
    )
    assert len(pages) == 4 and sum(len(p["Partitions"]) for p in pages) == 10
    matched = glue.get_partitions(
        DatabaseName=database, TableName="readings", Expression="day = '2024-01-02' AND hour >= 3"
    )
    assert sorted(p["Values"][1] for p in matched["Partitions"]) == ["3", "4"]
    for bad in ("hour >= ", "nope = 1", "day = (SELECT 1)", "length(day) = 10"):
        with pytest.raises(ClientError) as error:
            glue.get_partitions(DatabaseName=database, TableName="readings", Expression=bad)
        assert code_of(error) == "InvalidInputException", bad

    got = glue.batch_get_partition(
        DatabaseName=database,
        TableName="readings",
        PartitionsToGet=[{"Values": ["2024-01-01", "0"]}, {"Values": ["x", "9"]}],
    )
    assert [p["Values"] for p in got["Partitions"]] == [["2024-01-01", "0"]]
    deleted = glue.batch_delete_partition(
        DatabaseName=database,
        TableName="readings",
        PartitionsToDelete=[{"Values": ["2024-01-01", "0"]}, {"Values": ["x", "9"]}],
    )
    assert [e["PartitionValues"] for e in deleted["Errors"]] == [["x", "9"]]
    with pytest.raises(ClientError) as error:
        glue.create_partition(DatabaseName=database, TableName="readings", PartitionInput={"Values": ["only-one"]})
    assert code_of(error) == "InvalidInputException"
    with pytest.raises(ClientError) as error:
        glue.create_table(
            DatabaseName=database,
            TableInput={"Name": "elsewhere", "StorageDescriptor": {"Location": "s3://not-our-bucket/x/"}},
        )
    assert code_of(error) == "InvalidInputException"
    glue.delete_table(DatabaseName=database, Name="readings")
    with pytest.raises(ClientError) as error:
        glue.get_partitions(DatabaseName=database, TableName="readings")
    assert code_of(error) == "EntityNotFoundException"
    glue.delete_database(Name=database)
    assert database not in {d["Name"] for d in glue.get_databases()["DatabaseList"]}


# ---------------------------------------------------------------------------------------------- auth and protocol
def signed_post(standin: StandinProcess, target: str, body: bytes, secret: str | None = None, service: str = "glue"):
    request = AWSRequest(
        method="POST",
        url=f"{standin.url}/",
        data=body,
        headers={"X-Amz-Target": target, "Content-Type": "application/x-amz-json-1.1"},
    )
    credentials = Credentials(standin.settings.access_key, secret or standin.settings.secret_key)
    SigV4Auth(credentials, service, standin.settings.aws_region).add_auth(request)
    return requests.post(request.url, data=body, headers=dict(request.headers.items()), timeout=10)


def test_wrong_credentials_get_the_aws_errors(standin: StandinProcess) -> None:
    with pytest.raises(ClientError) as error:
        standin.client("glue", aws_secret_access_key="wrong-secret").get_databases()
    assert code_of(error) == "InvalidSignatureException"
    with pytest.raises(ClientError) as error:
        standin.client("athena", aws_access_key_id="AKIAUNKNOWN").list_work_groups()
    assert code_of(error) == "UnrecognizedClientException"
    with pytest.raises(ClientError) as error:
        standin.client("glue", config=Config(signature_version=UNSIGNED)).get_databases()
    assert code_of(error) == "MissingAuthenticationTokenException"
    with pytest.raises(ClientError) as error:
        standin.client("sts", aws_secret_access_key="wrong-secret").get_caller_identity()
    assert code_of(error) == "SignatureDoesNotMatch"
    identity = standin.client("sts").get_caller_identity()
    assert identity["Account"] == "000000000000" and identity["Arn"].startswith("arn:aws:iam::000000000000:")


def test_malformed_requests_get_4xx_with_aws_codes(standin: StandinProcess) -> None:
    cases = [
        ("AWSGlue.GetDatabases", b"{not json", "SerializationException"),
        ("AWSGlue.GetDatabases", b"[1, 2]", "SerializationException"),
        ("AWSGlue.NoSuchOperation", b"{}", "UnknownOperationException"),
        ("AWSGlue.CreateCrawler", b"{}", "ValidationException"),  # Name, Role, Targets missing
        ("AWSGlue.GetDatabase", b'{"Name": 42}', "ValidationException"),
        ("AmazonAthena.GetQueryResults", b'{"QueryExecutionId": "x", "MaxResults": 5000}', "ValidationException"),
        ("Nope.Op", b"{}", "UnknownOperationException"),
    ]
    for target, body, code in cases:
        response = signed_post(standin, target, body, service="athena" if target.startswith("Amazon") else "glue")
        assert 400 <= response.status_code < 500, (target, body, response.text)
        assert response.json()["__type"] == code, (target, body, response.text)
    # A body signed for Glue, sent to Athena's target, is refused like AWS refuses a mis-scoped signature.
    response = signed_post(standin, "AmazonAthena.ListWorkGroups", b"{}", service="glue")
    assert response.status_code == 400 and response.json()["__type"] == "InvalidSignatureException"


# ---------------------------------------------------------------------------------------------- other clients
def test_aws_cli_works_unchanged(standin: StandinProcess, crawled: dict) -> None:
    aws = str(Path(sys.executable).parent / "aws")
    env = standin.env()

    def cli(*args: str) -> dict:
        done = subprocess.run([aws, *args, "--output", "json"], env=env, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    tables = cli("glue", "get-tables", "--database-name", DATABASE)
    assert {t["Name"] for t in tables["TableList"]} >= {"vehicle_data", "gps_data"}
    query_id = cli(
        "athena",
        "start-query-execution",
        "--query-string",
        "SELECT count(*) FROM gps_data",
        "--query-execution-context",
        f"Database={DATABASE}",
    )["QueryExecutionId"]
    athena = standin.client("athena")  # awscli v1 has no Athena waiter: wait with boto3, then read with the CLI
    while athena.get_query_execution(QueryExecutionId=query_id)["QueryExecution"]["Status"]["State"] in PENDING:
        time.sleep(0.05)
    status = cli("athena", "get-query-execution", "--query-execution-id", query_id)["QueryExecution"]["Status"]
    assert status["State"] == "SUCCEEDED", status
    results = cli("athena", "get-query-results", "--query-execution-id", query_id)
    assert results["ResultSet"]["Rows"][1]["Data"][0]["VarCharValue"] == "1000"


def test_pyathena_works_unchanged(standin: StandinProcess, crawled: dict, test_lake: SampleLake, stack) -> None:
    import pyathena

    common = {
        "s3_staging_dir": stack.athena_output,
        "region_name": stack.aws_region,
        "endpoint_url": standin.url,
        "schema_name": DATABASE,
        "aws_access_key_id": stack.access_key,
        "aws_secret_access_key": stack.secret_key,
        "work_group": "primary",
        "poll_interval": 0.05,
    }
    expected = duck(
        test_lake, "select vehicle_id, count(*) from vehicle_data where fuel_level < 30 group by 1 order by 1"
    )
    with pyathena.connect(**common) as connection:
        cursor = connection.cursor()
        cursor.execute(
            "SELECT vehicle_id, count(*) AS n FROM vehicle_data WHERE fuel_level < %(limit)d GROUP BY 1 ORDER BY 1",
            {"limit": 30},
        )
        assert [d[0] for d in cursor.description] == ["vehicle_id", "n"]
        assert cursor.fetchall() == expected  # pyathena converts by ColumnInfo type: ints come back as ints
    with pyathena.connect(**common) as connection:  # qmark: sent as server-side ExecutionParameters
        cursor = connection.cursor()
        cursor.execute("SELECT count(*) FROM vehicle_data WHERE fuel_level < ?", ["30"], paramstyle="qmark")
        assert cursor.fetchone()[0] == sum(n for _, n in expected)


# ---------------------------------------------------------------------------------------------- restart
def test_restart_keeps_catalog_crawlers_and_query_history(standin: StandinProcess, crawled: dict) -> None:
    glue, athena = standin.client("glue"), standin.client("athena")
    execution = run_query(athena, "SELECT count(*) FROM gps_data", DATABASE)
    tables = glue.get_tables(DatabaseName=DATABASE)["TableList"]
    metrics = glue.get_crawler_metrics(CrawlerNameList=[CRAWLER])["CrawlerMetricsList"]

    # SIGTERM, as the supervisor sends it: a clean shutdown (uvicorn then exits by re-raising the signal).
    assert standin.stop() in (0, -signal.SIGTERM)
    assert "stand-in stopped" in standin.log_path.read_text()
    standin.start()

    glue, athena = standin.client("glue"), standin.client("athena")
    assert glue.get_tables(DatabaseName=DATABASE)["TableList"] == tables
    assert glue.get_crawler_metrics(CrawlerNameList=[CRAWLER])["CrawlerMetricsList"] == metrics
    again = athena.get_query_execution(QueryExecutionId=execution["QueryExecutionId"])["QueryExecution"]
    assert again["Status"]["State"] == "SUCCEEDED"
    assert all_rows(athena, execution["QueryExecutionId"])[1] == ["1000"]
    assert execution["QueryExecutionId"] in athena.list_query_executions()["QueryExecutionIds"]
