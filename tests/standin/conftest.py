"""Fixtures for the Glue/Athena stand-in tests.

The stand-in runs as the stack runs it (``python -m smartcity.standin`` in its own process) on a free port
with its own state directory, against the session stack's real S3, so a test can stop and restart it.
The test lake is written once per session: small Parquet datasets in Hive partitions, with a
``_spark_metadata`` folder (holding a Parquet file, so only the crawler's exclusions keep it out).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pyarrow as pa
import pyarrow.fs as pafs
import pytest

from smartcity.settings import Settings
from standin.standin_helpers import SampleLake, StandinProcess, gps_rows, vehicle_rows


@pytest.fixture(scope="session")
def standin(stack: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[StandinProcess]:
    server = StandinProcess(stack, tmp_path_factory.mktemp("standin"))
    server.start()
    try:
        yield server
    finally:
        if server.process is not None:
            server.process.kill()
            server.process.wait()


@pytest.fixture(scope="session")
def s3fs(stack: Settings) -> pafs.S3FileSystem:
    scheme, _, host = stack.s3_endpoint.partition("://")
    return pafs.S3FileSystem(
        access_key=stack.access_key,
        secret_key=stack.secret_key,
        endpoint_override=host,
        scheme=scheme,
        region=stack.aws_region,
        force_virtual_addressing=False,
    )


@pytest.fixture(scope="session")
def test_lake(stack: Settings, s3fs: pafs.S3FileSystem, tmp_path_factory: pytest.TempPathFactory) -> SampleLake:
    """Two datasets (different schemas) in date partitions, plus Spark's _spark_metadata folders."""
    lake = SampleLake(stack.lake_bucket, f"standin-tests-{uuid.uuid4().hex[:8]}", tmp_path_factory.mktemp("lake"), s3fs)
    for index, day in enumerate(("2024-01-01", "2024-01-02", "2024-01-03")):
        for part in range(2):
            lake.write(
                f"data/vehicle_data/date={day}/part-{part}.snappy.parquet",
                vehicle_rows(index * 10 + part, 700 + 100 * part, day),
            )
    for index, day in enumerate(("2024-01-01", "2024-01-02")):
        lake.write(f"data/gps_data/date={day}/part-0.parquet", gps_rows(index, 500))
    for stream in ("vehicle_data", "gps_data"):
        # A Parquet file in _spark_metadata: only the exclusions keep it out of the catalog.
        lake.write(f"data/{stream}/_spark_metadata/stray.parquet", pa.table({"batch": [0]}))
        with s3fs.open_output_stream(f"{lake.bucket}/{lake.prefix}/data/{stream}/_spark_metadata/0") as out:
            out.write(b'v1\n{"path":"part-0.parquet"}\n')
    return lake
