"""The report from a small real run: the producer drives two vehicles to Baguio into Kafka, the streaming job
(spark-submit, as Airflow submits it) lands them in the lake, the Glue crawlers of the stand-in catalog it,
and ``smartcity report`` renders the page through Athena.

The run has a lake folder, Glue database and topic prefix of its own, so whole-table counts are this run's
counts. What the page says is compared with Athena counting independently, and the page is opened in
headless Chromium.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from plugins.lake import JourneyScope, LakeNames, crawler_configs, stream_check_sql
from producers.badrecords import BadKind
from producers.report import RunReport
from producers.run import ProducerOptions, ProducerRun, ensure_bucket
from producers.simulator import SimConfig
from smartcity.report.athena import Athena
from smartcity.report.cli import app as report_app
from smartcity.report.figures import FIGURES
from smartcity.report.sources import report_by_stream
from smartcity.settings import PROJECT_ROOT, Settings
from tests.report.report_checks import (
    blank_problems,
    chromium_binary,
    non_local_references,
    parse_page,
    png_problems,
    screenshot,
    table_number,
)

pytestmark = pytest.mark.integration

JOB = PROJECT_ROOT / "spark_jobs" / "streaming_job.py"
START = datetime(2025, 3, 1, 5, 30, tzinfo=UTC)
# 'late' is left out: whether a record is late depends on the job's watermark across batches, which is the
# streaming job's business (tested there), not the report's.
BAD_KINDS = tuple(kind for kind in BadKind if kind is not BadKind.LATE)


def _crawl(settings: Settings, lake: LakeNames) -> None:
    glue = settings.boto3_client("glue")
    configs = crawler_configs(lake)
    for config in configs.values():
        glue.create_crawler(**config)
        glue.start_crawler(Name=config["Name"])
    for name in configs:
        deadline = time.monotonic() + 120
        while (crawler := glue.get_crawler(Name=name)["Crawler"])["State"] != "READY" or "LastCrawl" not in crawler:
            assert time.monotonic() < deadline, f"crawler {name} still {crawler['State']}"
            time.sleep(0.5)
        assert crawler["LastCrawl"]["Status"] == "SUCCEEDED", crawler["LastCrawl"]


@pytest.fixture(scope="module")
def run(stack: Settings, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tag = uuid.uuid4().hex[:8]
    settings = Settings(glue_database=f"report_{tag}")
    # The lake under a folder of its own (the stand-in reads only the configured lake bucket); the report
    # finds it through the catalog, so it needs no prefix itself.
    lake = LakeNames(**{**LakeNames.from_settings(settings).__dict__, "lake_prefix": f"report-it-{tag}/"})
    work = tmp_path_factory.mktemp("report-run")
    results_bucket = settings.athena_output.removeprefix("s3://").split("/", 1)[0]
    ensure_bucket(settings.boto3_client("s3"), results_bucket, settings.aws_region)

    # 1. the journey into Kafka (the run report goes to s3://<lake>/reports/<run id>.json)
    sim = SimConfig(
        vehicles=2,
        seed=21,
        start_time=START,
        departure_interval_s=120,
        camera_spacing_km=10,
        emergency_rate_per_hour=1.5,
    )
    options = ProducerOptions(
        run_id=f"report-it-{tag}",
        bootstrap_servers=settings.kafka_bootstrap,
        topic_prefix=f"rep{tag}.",
        partitions=2,
        bad_record_rate=0.03,
        bad_kinds=BAD_KINDS,
        lake_bucket=settings.lake_bucket,
        report_path=work / "run.json",
    )
    report = ProducerRun(sim, options, s3_factory=lambda: settings.boto3_client("s3")).execute()
    assert report.status == "completed", report.error

    # 2. the streaming job lands it
    metrics, summary = work / "metrics.jsonl", work / "spark-summary.json"
    job = subprocess.run(
        [
            "spark-submit",
            "--conf", "spark.sql.shuffle.partitions=1",  # a few hundred rows per stream: one task per shuffle
            str(JOB),
            "--lake", f"s3a://{settings.lake_bucket}/{lake.lake_prefix}",
            "--topic-prefix", options.topic_prefix,
            "--checkpoint-dir", str(work / "checkpoints"),
            "--drain",
            "--metrics-file", str(metrics),
            "--summary-file", str(summary),
        ],
        capture_output=True, text=True, timeout=300, env=dict(os.environ), check=False,
    )  # fmt: skip
    assert job.returncode == 0, (job.stdout[-3000:], job.stderr[-3000:])

    # 3. the crawlers catalog the lake, and the pipeline checks it (one of the DAG's Athena checks)
    _crawl(settings, lake)
    scope = JourneyScope.from_report(report_by_stream(report))
    check = Athena(settings)
    check.query("the DAG's check", stream_check_sql("vehicle_data", scope))
    return {"settings": settings, "report": report, "metrics": metrics, "summary": summary, "work": work}


@pytest.fixture(scope="module")
def page(run: dict[str, Any]) -> Path:
    """``smartcity report --run-id …``: the run report from the lake, the rows through Athena."""
    settings: Settings = run["settings"]
    out = run["work"] / "report"
    env = {"SMARTCITY_GLUE_DATABASE": settings.glue_database}
    args = ["--run-id", run["report"].run_id, "--out", str(out)]
    args += ["--metrics-file", str(run["metrics"]), "--summary-file", str(run["summary"])]
    result = CliRunner().invoke(report_app, args, env=env)
    assert result.exit_code == 0, result.output
    assert f"report: {out / 'index.html'}" in result.output
    return out / "index.html"


def test_page_references_only_local_files_and_every_figure_is_a_sensible_png(page: Path) -> None:
    parsed = parse_page(page)
    assert non_local_references(parsed, page.parent) == []
    # A full run has data for every figure: journey, incidents, reconciliation, job metrics, crawlers, queries.
    assert sorted(parsed.images) == sorted(name for name, _draw, _section in FIGURES)
    for image in parsed.images:
        assert png_problems(page.parent / image) == []


def test_reconciliation_table_equals_athena_counts(run: dict[str, Any], page: Path) -> None:
    settings: Settings = run["settings"]
    report: RunReport = run["report"]
    athena = Athena(settings)
    tables = {
        t["Name"] for t in settings.boto3_client("glue").get_tables(DatabaseName=settings.glue_database)["TableList"]
    }
    quarantined: dict[str, int] = {}
    for row in athena.query("test: quarantine", "SELECT topic, count(*) AS n FROM quarantine GROUP BY topic"):
        stream = row["topic"].removeprefix(report.config["producer"]["topic_prefix"])
        quarantined[stream] = row["n"]
    parsed = parse_page(page)

    for topic, counts in report.topics.items():
        stream = topic.removeprefix(f"{report.config['producer']['topic_prefix']}")
        assert stream in tables
        landed = athena.query(f"test: {stream}", f"SELECT count(*) AS n FROM {stream}")[0]["n"]
        assert table_number(parsed, stream, "landed") == landed
        assert table_number(parsed, stream, "quarantined") == quarantined.get(stream, 0)
        assert table_number(parsed, stream, "produced") == counts.produced
        assert table_number(parsed, stream, "expected_landed") == counts.good_acknowledged
    # The pipeline lost nothing, so the page says the run reconciles.
    assert 'class="badge ok">reconciled' in page.read_text()


def test_timings_show_the_crawlers_and_the_pipelines_queries(run: dict[str, Any], page: Path) -> None:
    text = page.read_text()
    database = run["settings"].glue_database
    for crawler in (f"{database}_lake_data", f"{database}_lake_quarantine"):
        assert re.search(
            rf"<td class=\"text\">{crawler}</td><td class=\"text\">READY</td><td class=\"text\">SUCCEEDED", text
        )
    assert '<td class="text">check vehicle_data</td><td class="text">pipeline</td>' in text
    assert text.count('<td class="text">report</td>') == 6  # counts, quarantine, tracks, weather, incidents, cameras


@pytest.mark.skipif(chromium_binary() is None, reason="chromium is not on PATH (apt-get install -y chromium)")
def test_page_renders_in_headless_chromium(page: Path, tmp_path: Path) -> None:
    shot = screenshot(page, tmp_path / "page.png")
    assert blank_problems(shot) == []
