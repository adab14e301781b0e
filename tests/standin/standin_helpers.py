"""Helpers shared by the stand-in tests: the stand-in process, the test lake, polling and paging."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import numpy as np
import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import requests
from botocore.config import Config

from smartcity.settings import LOOPBACK, Settings

SEED_EXCLUSIONS = ["_spark_metadata", "**/_spark_metadata", "**spark_metadata**"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return sock.getsockname()[1]


@dataclass
class StandinProcess:
    """``python -m smartcity.standin`` on its own port and state directory."""

    settings: Settings
    state_dir: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen | None = None
    log_path: Path | None = None

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "SMARTCITY_DATA_DIR": str(self.state_dir),
            "SMARTCITY_STANDIN_PORT": str(self.port),
            "AWS_ENDPOINT_URL_GLUE": self.url,
            "AWS_ENDPOINT_URL_ATHENA": self.url,
            "AWS_ENDPOINT_URL_STS": self.url,
        }

    def start(self, timeout: float = 30.0) -> None:
        self.log_path = self.state_dir / "standin.log"
        self.state_dir.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "smartcity.standin"], env=self.env(), stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"stand-in exited with {self.process.returncode}:\n{self.log_path.read_text()}")
            try:
                if requests.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return
            except requests.ConnectionError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"stand-in not ready in {timeout} s:\n{self.log_path.read_text()}")

    def stop(self, timeout: float = 15.0) -> int:
        """SIGTERM, as the supervisor stops it; returns the exit code."""
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout)
        self.process = None
        return code

    def client(self, service: str, **overrides: Any):
        options = {
            "endpoint_url": self.url,
            "region_name": self.settings.aws_region,
            "aws_access_key_id": self.settings.access_key,
            "aws_secret_access_key": self.settings.secret_key,
            "config": Config(retries={"max_attempts": 1}),
            **overrides,
        }
        return boto3.client(service, **options)


@dataclass
class SampleLake:
    """The session's test data, on S3 under ``s3://<lake>/<prefix>/`` and as local copies for DuckDB."""

    bucket: str
    prefix: str
    local: Path
    s3fs: pafs.S3FileSystem

    @property
    def data_uri(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}/data/"

    def write(self, relative: str, table: pa.Table) -> None:
        """Write one Parquet file both locally (for DuckDB) and to S3 (for the stand-in)."""
        local = self.local / relative
        local.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(table, local)
        pq.write_table(table, f"{self.bucket}/{self.prefix}/{relative}", filesystem=self.s3fs)


def vehicle_rows(seed: int, rows: int, day: str, *, extra_column: bool = False) -> pa.Table:
    rng = np.random.default_rng(seed)
    start = np.datetime64(f"{day}T00:00:00", "us")
    columns = {
        "event_id": pa.array([str(uuid.UUID(int=int(x))) for x in rng.integers(0, 2**63, rows)]),
        "vehicle_id": pa.array([f"vehicle-{v}" for v in rng.integers(0, 7, rows)]),
        "event_time": pa.array(start + rng.integers(0, 86_400_000_000, rows).astype("timedelta64[us]")).cast(
            pa.timestamp("us", tz="UTC")
        ),
        "speed": pa.array(rng.random(rows) * 120, mask=rng.random(rows) < 0.05),  # some nulls, as real data has
        "fuel_level": pa.array(rng.integers(0, 100, rows), pa.int32()),
        "is_moving": pa.array(rng.random(rows) < 0.8),
        "schema_version": pa.array(np.ones(rows, dtype=np.int32)),
    }
    table = pa.table(columns)
    if extra_column:
        table = table.append_column("heading", pa.array(rng.random(rows) * 360))
    return table


def gps_rows(seed: int, rows: int) -> pa.Table:
    rng = np.random.default_rng(seed)
    return pa.table(
        {
            "event_id": pa.array([f"gps-{seed}-{i}" for i in range(rows)]),
            "vehicle_id": pa.array([f"vehicle-{v}" for v in rng.integers(0, 7, rows)]),
            "latitude": pa.array(14.5 + rng.random(rows) * 2),
            "longitude": pa.array(120.5 + rng.random(rows)),
        }
    )


def wait_crawl(glue, name: str, timeout: float = 60.0) -> dict[str, Any]:
    """Poll GetCrawler until the crawl is over (as the Airflow waiter does); return the crawler."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        crawler = glue.get_crawler(Name=name)["Crawler"]
        if crawler["State"] == "READY" and "LastCrawl" in crawler:
            return crawler
        time.sleep(0.1)
    raise AssertionError(f"crawler {name} still running after {timeout} s")


def crawl_into(glue, database: str, data_uri: str) -> dict[str, Any]:
    """Create a crawler of ``data_uri`` into ``database``, run it once and return it (crawl succeeded)."""
    crawler = f"{database}_crawler"
    glue.create_crawler(
        Name=crawler,
        Role="arn:aws:iam::000000000000:role/smartcity-crawler",
        DatabaseName=database,
        Targets={"S3Targets": [{"Path": data_uri}]},
    )
    glue.start_crawler(Name=crawler)
    crawled = wait_crawl(glue, crawler)
    assert crawled["LastCrawl"]["Status"] == "SUCCEEDED", crawled["LastCrawl"]
    return crawled


def run_query(athena, sql: str, database: str, timeout: float = 60.0, **extra: Any) -> dict[str, Any]:
    """Start a query and poll until it is final; return its QueryExecution."""
    query_id = athena.start_query_execution(QueryString=sql, QueryExecutionContext={"Database": database}, **extra)[
        "QueryExecutionId"
    ]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        execution = athena.get_query_execution(QueryExecutionId=query_id)["QueryExecution"]
        if execution["Status"]["State"] in ("SUCCEEDED", "FAILED", "CANCELLED"):
            return execution
        time.sleep(0.05)
    raise AssertionError(f"query {query_id} not finished after {timeout} s")


def all_rows(athena, query_id: str, page: int = 1000) -> list[list[str | None]]:
    """Every row of a result through the paginator (header row included, as Athena returns it)."""
    rows = []
    for response in athena.get_paginator("get_query_results").paginate(
        QueryExecutionId=query_id, PaginationConfig={"PageSize": page}
    ):
        rows += [[cell.get("VarCharValue") for cell in row["Data"]] for row in response["ResultSet"]["Rows"]]
    return rows
