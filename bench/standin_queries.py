"""Figures of the Glue/Athena stand-in, measured end to end through boto3.

* Athena ``SELECT count(*)`` and a per-vehicle aggregate over 10 million rows (30 daily partitions):
  submit, poll, fetch every result page. Target: <= 2 s each.
* A Glue crawl of 1,000 Parquet files in 30 partitions: StartCrawler until the crawler is READY again.
  Target: <= 10 s.

Runs against the local stack (``smartcity stack up``; the variables of ``smartcity stack env``). If no
stand-in answers at the Glue endpoint, one is started for the run (``python -m smartcity.standin`` on a free
port, state in a temporary directory). The data is written once under ``s3://<lake>/bench/standin/`` and
reused by later runs.

    .venv/bin/python bench/standin_queries.py [--runs 5]
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress

import boto3
import numpy as np
import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import requests
from botocore.config import Config

from smartcity.settings import LOOPBACK, Settings

QUERY_ROWS = 10_000_000
QUERY_PARTITIONS = 30
CRAWL_FILES = 1_000
CRAWL_PARTITIONS = 30
DATABASE = "standin_bench"
ROLE = "arn:aws:iam::000000000000:role/bench"
QUERIES = {
    "count(*)": "SELECT count(*) FROM events",
    "per-vehicle aggregate": (
        "SELECT vehicle_id, count(*) AS events, avg(speed) AS avg_speed, max(speed) AS max_speed, "
        "min(event_time) AS first_seen, max(event_time) AS last_seen, count_if(is_moving) AS moving "
        "FROM events GROUP BY vehicle_id ORDER BY vehicle_id"
    ),
}


def s3_filesystem(settings: Settings) -> pafs.S3FileSystem:
    scheme, _, host = (settings.s3_endpoint or "").partition("://")
    return pafs.S3FileSystem(
        access_key=settings.access_key,
        secret_key=settings.secret_key,
        endpoint_override=host,
        scheme=scheme,
        region=settings.aws_region,
        force_virtual_addressing=False,
    )


def events(rows: int, day: int, seed: int) -> pa.Table:
    """Vehicle telemetry shaped like the project's vehicle stream."""
    rng = np.random.default_rng(seed)
    start = np.datetime64(f"2024-01-{day:02d}T00:00:00", "us")
    ids = np.char.add(f"{seed:08x}-", np.arange(rows).astype(str))
    return pa.table(
        {
            "event_id": pa.array(ids),
            "vehicle_id": pa.array(np.char.add("vehicle-", rng.integers(0, 200, rows).astype(str))),
            "event_time": pa.array(start + rng.integers(0, 86_400_000_000, rows).astype("timedelta64[us]")).cast(
                pa.timestamp("us", tz="UTC")
            ),
            "speed": pa.array(rng.random(rows) * 120),
            "fuel_level": pa.array(rng.integers(0, 100, rows), pa.int32()),
            "is_moving": pa.array(rng.random(rows) < 0.8),
        }
    )


def ensure_data(fs: pafs.S3FileSystem, root: str, files: int, partitions: int, rows_per_file: int) -> float:
    """Write ``files`` Parquet files spread over daily partitions, unless a previous run left them there."""
    existing = fs.get_file_info(pafs.FileSelector(root, recursive=True, allow_not_found=True))
    if sum(1 for info in existing if info.type == pafs.FileType.File) == files:
        return 0.0
    fs.delete_dir_contents(root, missing_dir_ok=True)
    started = time.perf_counter()
    for index in range(files):
        day = index % partitions + 1
        table = events(rows_per_file, day, index)
        pq.write_table(table, f"{root}/date=2024-01-{day:02d}/part-{index:05d}.snappy.parquet", filesystem=fs)
    return time.perf_counter() - started


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return sock.getsockname()[1]


@contextmanager
def standin_endpoint(settings: Settings) -> Iterator[str]:
    """The stack's stand-in if it answers, else one started for this run."""
    url = settings.glue_endpoint or ""
    try:
        if requests.get(f"{url}/health", timeout=1).ok:
            yield url
            return
    except requests.RequestException:
        pass
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="standin-bench-") as state:
        env = {**os.environ, "SMARTCITY_DATA_DIR": state, "SMARTCITY_STANDIN_PORT": str(port)}
        process = subprocess.Popen([sys.executable, "-m", "smartcity.standin", "--log-level", "warning"], env=env)
        url = f"http://{LOOPBACK}:{port}"
        try:
            for _ in range(300):
                try:
                    if requests.get(f"{url}/health", timeout=1).ok:
                        break
                except requests.RequestException:
                    time.sleep(0.1)
            print(f"(started a stand-in for this run at {url})")
            yield url
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(30)


def clients(settings: Settings, url: str):
    options = {
        "endpoint_url": url,
        "region_name": settings.aws_region,
        "aws_access_key_id": settings.access_key,
        "aws_secret_access_key": settings.secret_key,
        "config": Config(retries={"mode": "standard", "max_attempts": 3}),
    }
    return boto3.client("glue", **options), boto3.client("athena", **options)


def crawl(glue, name: str, path: str, database: str) -> tuple[float, dict]:
    """Create (fresh) and run a crawler; seconds from StartCrawler until READY again."""
    with suppress(glue.exceptions.EntityNotFoundException):
        glue.delete_crawler(Name=name)
    glue.create_crawler(Name=name, Role=ROLE, DatabaseName=database, Targets={"S3Targets": [{"Path": path}]})
    started = time.perf_counter()
    glue.start_crawler(Name=name)
    while (crawler := glue.get_crawler(Name=name)["Crawler"])["State"] != "READY":
        time.sleep(0.05)
    return time.perf_counter() - started, crawler


def run_query(athena, sql: str) -> tuple[float, dict, int]:
    """Submit, poll, fetch all pages: seconds, the final QueryExecution, rows fetched."""
    started = time.perf_counter()
    query_id = athena.start_query_execution(QueryString=sql, QueryExecutionContext={"Database": DATABASE})[
        "QueryExecutionId"
    ]
    while True:
        execution = athena.get_query_execution(QueryExecutionId=query_id)["QueryExecution"]
        if execution["Status"]["State"] in ("SUCCEEDED", "FAILED", "CANCELLED"):
            break
        time.sleep(0.02)
    if execution["Status"]["State"] != "SUCCEEDED":
        raise SystemExit(f"query failed: {execution['Status']}")
    rows = 0
    for page in athena.get_paginator("get_query_results").paginate(QueryExecutionId=query_id):
        rows += len(page["ResultSet"]["Rows"])
    return time.perf_counter() - started, execution, rows - 1


def timed(label: str, runs: int, action: Callable[[], tuple[float, dict, int]], target: float) -> None:
    seconds, last = [], None
    for _ in range(runs):
        elapsed, last, rows = action()
        seconds.append(elapsed)
    stats = last["Statistics"]
    verdict = "OK" if statistics.median(seconds) <= target else "OVER TARGET"
    print(
        f"{label:<24} median {statistics.median(seconds):6.3f} s  min {min(seconds):6.3f}  max {max(seconds):6.3f}"
        f"  (target <= {target:.0f} s: {verdict}; {rows} result rows; server: planning "
        f"{stats.get('QueryPlanningTimeInMillis', 0)} ms, engine {stats.get('EngineExecutionTimeInMillis', 0)} ms, "
        f"scanned {stats['DataScannedInBytes'] / 1e6:.0f} MB)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="timed runs of each query (median reported)")
    args = parser.parse_args()
    settings = Settings()
    if not (settings.access_key and settings.secret_key):
        raise SystemExit("No S3 credentials: start the stack (smartcity stack up) and export `smartcity stack env`.")
    fs = s3_filesystem(settings)
    root = f"{settings.lake_bucket}/bench/standin"
    wrote = ensure_data(fs, f"{root}/query/events", QUERY_PARTITIONS, QUERY_PARTITIONS, QUERY_ROWS // QUERY_PARTITIONS)
    wrote += ensure_data(fs, f"{root}/crawl/events", CRAWL_FILES, CRAWL_PARTITIONS, 1_000)
    if wrote:
        print(f"(wrote the benchmark data in {wrote:.1f} s)")
    crawl_files = [
        info for info in fs.get_file_info(pafs.FileSelector(f"{root}/crawl/events", recursive=True)) if info.is_file
    ]

    with standin_endpoint(settings) as url:
        glue, athena = clients(settings, url)
        load = os.getloadavg()[0]
        print(f"stand-in {url}, S3 {settings.s3_endpoint}, {os.cpu_count()} cores, load average {load:.1f}")

        run_id = uuid.uuid4().hex[:6]  # a fresh crawler and database: the crawl creates everything
        crawl_database = f"{DATABASE}_crawl_{run_id}"
        seconds, crawler = crawl(glue, f"bench_crawl_{run_id}", f"s3://{root}/crawl/", crawl_database)
        partitions = glue.get_partitions(DatabaseName=crawl_database, TableName="events")["Partitions"]
        verdict = "OK" if seconds <= 10 else "OVER TARGET"
        metrics = glue.get_crawler_metrics(CrawlerNameList=[crawler["Name"]])["CrawlerMetricsList"][0]
        print(
            f"{'crawl':<24} {seconds:6.3f} s for {len(crawl_files)} files in {len(partitions)} partitions "
            f"(target <= 10 s: {verdict}; crawler LastRuntimeSeconds {metrics['LastRuntimeSeconds']}, "
            f"last crawl {crawler['LastCrawl']['Status']})"
        )

        seconds, crawler = crawl(glue, "bench_query_tables", f"s3://{root}/query/", DATABASE)
        table = glue.get_table(DatabaseName=DATABASE, Name="events")["Table"]
        print(f"(query table crawled in {seconds:.2f} s: {table['Parameters']['recordCount']} rows)")
        for label, sql in QUERIES.items():
            # The first query of a table copies its files into the stand-in's local mirror: shown apart.
            first, _, _ = run_query(athena, sql)
            print(f"({label}: first run {first:.3f} s, including copying any files not yet mirrored)")
            timed(label, args.runs, lambda sql=sql: run_query(athena, sql), target=2.0)
        print(f"(load average during the run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")


if __name__ == "__main__":
    main()
