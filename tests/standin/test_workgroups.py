"""Athena work groups beyond the basics: tags (as `smartcity aws bootstrap` and Airflow tag them), the
per-query data usage limit, and a disabled work group — each checked through boto3 as on AWS."""

from __future__ import annotations

import uuid

import numpy as np
import pyarrow as pa
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from standin.standin_helpers import SampleLake, StandinProcess, crawl_into, run_query

pytestmark = pytest.mark.integration

DATABASE = f"standin_wg_{uuid.uuid4().hex[:6]}"


def _code(excinfo: pytest.ExceptionInfo[ClientError]) -> str:
    return excinfo.value.response["Error"]["Code"]


@pytest.fixture(scope="module")
def athena(standin: StandinProcess):
    return standin.client("athena")


@pytest.fixture
def workgroup(athena, stack) -> str:
    name = f"wg-{uuid.uuid4().hex[:8]}"
    athena.create_work_group(
        Name=name,
        Configuration={"ResultConfiguration": {"OutputLocation": stack.athena_output}},
        Tags=[{"Key": "managed-by", "Value": "smartcity"}, {"Key": "env", "Value": "test"}],
    )
    return name


def test_work_group_tags_round_trip(athena, workgroup: str) -> None:
    arn = f"arn:aws:athena:{athena.meta.region_name}:000000000000:workgroup/{workgroup}"
    tags = athena.list_tags_for_resource(ResourceARN=arn)["Tags"]
    assert sorted((t["Key"], t["Value"]) for t in tags) == [("env", "test"), ("managed-by", "smartcity")]

    athena.tag_resource(ResourceARN=arn, Tags=[{"Key": "owner", "Value": "data-eng"}, {"Key": "env", "Value": "dev"}])
    athena.untag_resource(ResourceARN=arn, TagKeys=["managed-by"])
    pages = athena.get_paginator("list_tags_for_resource").paginate(ResourceARN=arn, PaginationConfig={"PageSize": 75})
    assert sorted((t["Key"], t["Value"]) for page in pages for t in page["Tags"]) == [
        ("env", "dev"),
        ("owner", "data-eng"),
    ]

    missing = arn.replace(workgroup, "no-such-group")
    with pytest.raises(ClientError) as unknown:
        athena.list_tags_for_resource(ResourceARN=missing)
    assert _code(unknown) == "ResourceNotFoundException"
    with pytest.raises(ClientError) as malformed:
        athena.tag_resource(ResourceARN="not-an-arn", Tags=[{"Key": "k", "Value": "v"}])
    assert _code(malformed) == "InvalidRequestException"

    athena.delete_work_group(WorkGroup=workgroup)
    with pytest.raises(ClientError) as deleted:
        athena.list_tags_for_resource(ResourceARN=arn)
    assert _code(deleted) == "ResourceNotFoundException"


def test_disabled_work_group_refuses_queries_until_enabled(athena, workgroup: str) -> None:
    athena.update_work_group(WorkGroup=workgroup, State="DISABLED")
    assert athena.get_work_group(WorkGroup=workgroup)["WorkGroup"]["State"] == "DISABLED"
    with pytest.raises(ClientError) as refused:
        athena.start_query_execution(QueryString="SELECT 1", WorkGroup=workgroup)
    assert _code(refused) == "InvalidRequestException"
    assert "disabled" in refused.value.response["Error"]["Message"]

    athena.update_work_group(WorkGroup=workgroup, State="ENABLED")
    query_id = athena.start_query_execution(QueryString="SELECT 1", WorkGroup=workgroup)["QueryExecutionId"]
    assert query_id


@pytest.fixture(scope="module")
def large_table(standin: StandinProcess, stack, s3fs, tmp_path_factory) -> tuple[str, int]:
    """One table of ~12 MB of Parquet (incompressible doubles): more than Athena's smallest data limit."""
    lake = SampleLake(stack.lake_bucket, f"standin-wg-{uuid.uuid4().hex[:8]}", tmp_path_factory.mktemp("wg"), s3fs)
    rng = np.random.default_rng(7)
    table = pa.table({"reading": rng.random(1_500_000)})
    lake.write("data/readings/part-0.parquet", table)
    glue = standin.client("glue")
    crawl_into(glue, DATABASE, lake.data_uri)
    size = s3fs.get_file_info(f"{lake.bucket}/{lake.prefix}/data/readings/part-0.parquet").size
    return "readings", size


def test_bytes_scanned_cutoff_cancels_larger_queries(
    athena, standin: StandinProcess, workgroup: str, large_table: tuple[str, int]
) -> None:
    table, size = large_table
    assert size > 10_000_000

    # botocore checks Athena's 10 MB minimum itself; without its validation the server must refuse too.
    unvalidated = standin.client("athena", config=Config(parameter_validation=False))
    with pytest.raises(ClientError) as too_small:
        unvalidated.update_work_group(WorkGroup=workgroup, ConfigurationUpdates={"BytesScannedCutoffPerQuery": 1_000})
    assert _code(too_small) == "ValidationException"  # the model's range check, before any handler

    athena.update_work_group(WorkGroup=workgroup, ConfigurationUpdates={"BytesScannedCutoffPerQuery": 10_000_000})
    config = athena.get_work_group(WorkGroup=workgroup)["WorkGroup"]["Configuration"]
    assert config["BytesScannedCutoffPerQuery"] == 10_000_000
    over = run_query(athena, f"SELECT count(*) FROM {table}", DATABASE, WorkGroup=workgroup)
    assert over["Status"]["State"] == "CANCELLED"
    assert "Bytes scanned limit was exceeded" in over["Status"]["StateChangeReason"]
    assert over["Statistics"]["DataScannedInBytes"] == size

    athena.update_work_group(WorkGroup=workgroup, ConfigurationUpdates={"BytesScannedCutoffPerQuery": size + 1})
    under = run_query(athena, f"SELECT count(*) FROM {table}", DATABASE, WorkGroup=workgroup)
    assert under["Status"]["State"] == "SUCCEEDED", under["Status"]

    athena.update_work_group(WorkGroup=workgroup, ConfigurationUpdates={"BytesScannedCutoffPerQuery": 10_000_000})
    athena.update_work_group(WorkGroup=workgroup, ConfigurationUpdates={"RemoveBytesScannedCutoffPerQuery": True})
    assert "BytesScannedCutoffPerQuery" not in athena.get_work_group(WorkGroup=workgroup)["WorkGroup"]["Configuration"]
    unlimited = run_query(athena, f"SELECT count(*) FROM {table}", DATABASE, WorkGroup=workgroup)
    assert unlimited["Status"]["State"] == "SUCCEEDED", unlimited["Status"]
