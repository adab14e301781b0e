"""The job's command line, drain decisions and naming (pure Python, no Spark)."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from smartcity.settings import PROJECT_ROOT, Settings
from spark_jobs.drain import DrainError, parse_offsets, progress_offsets, reached, read_offsets_file
from spark_jobs.job_config import JobConfigError, parse_args, parse_duration
from spark_jobs.lake_writer import object_name


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2 minutes", timedelta(minutes=2)),
        ("10 seconds", timedelta(seconds=10)),
        ("500ms", timedelta(seconds=0.5)),
        ("1 hour", timedelta(hours=1)),
        ("1.5 s", timedelta(seconds=1.5)),
    ],
)
def test_durations(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


def test_defaults_come_from_the_settings_and_paths_become_uris(tmp_path: Path) -> None:
    settings = Settings(lake_bucket="my-lake", data_dir=tmp_path, kafka_bootstrap_servers="127.0.0.1:1")
    config = parse_args([], settings)
    assert config.lake == "s3a://my-lake"
    assert config.bootstrap_servers == "127.0.0.1:1"
    assert config.checkpoint_dir == (tmp_path / "spark" / "checkpoints").as_uri()
    assert config.streams == ("vehicle_data", "gps_data", "traffic_data", "weather_data", "emergency_data")
    assert config.trigger_spec == "5 seconds"
    assert config.watermark_delay == timedelta(minutes=2)
    assert config.topic("gps_data") == "gps_data"
    assert parse_args(["--topic-prefix", "t1."], settings).topic("gps_data") == "t1.gps_data"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--streams", "gps_data,nope"], "unknown stream"),
        (["--drain", "--drain-offsets", "x.json"], "alternatives"),
        (["--trigger-interval", "soon"], "not a duration"),
        (["--kafka-option", "novalue"], "KEY=VALUE"),
        (["--max-offsets-per-trigger", "0"], "at least 1"),
    ],
)
def test_bad_arguments_are_named(argv: list[str], message: str) -> None:
    with pytest.raises(JobConfigError, match=message):
        parse_args(argv, Settings())


def test_bad_arguments_exit_2_with_a_message_and_no_traceback() -> None:
    result = subprocess.run(
        [sys.executable, str(PROJECT_ROOT / "spark_jobs" / "streaming_job.py"), "--streams", "bogus"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.startswith("error: unknown stream(s) ['bogus']")
    assert "Traceback" not in result.stderr


def test_drain_offsets_from_a_report(tmp_path: Path) -> None:
    report = tmp_path / "report.json"
    report.write_text(json.dumps({"run_id": "r1", "end_offsets": {"gps_data": {"0": 10, "1": 4}}}))
    assert read_offsets_file(report) == {"gps_data": {0: 10, 1: 4}}
    report.write_text(json.dumps({"run_id": "r1", "status": "completed", "topics": {}}))
    assert read_offsets_file(report) is None  # no offsets named: drain to the topics' ends at that moment
    report.write_text("{not json")
    with pytest.raises(DrainError, match="is not JSON"):
        read_offsets_file(report)
    with pytest.raises(DrainError, match="not an integer"):
        parse_offsets({"gps_data": {"zero": 1}}, "x")


def test_reached_compares_next_offsets_per_partition() -> None:
    consumed = progress_offsets('{"gps_data": {"0": 10, "1": 3}}')
    assert reached(consumed, {0: 10, 1: 3}, "gps_data")
    assert not reached(consumed, {0: 10, 1: 4}, "gps_data")
    assert not reached(consumed, {0: 10, 1: 3, 2: 1}, "gps_data")  # a partition not read at all
    assert reached({}, {0: 0}, "gps_data")  # an empty partition needs no batch
    assert progress_offsets(None) == {}


def test_object_names_depend_only_on_batch_and_rank() -> None:
    assert object_name(7, 0, ".snappy.parquet") == "0000000007-000.snappy.parquet"
    assert object_name(7, 0, ".snappy.parquet") == object_name(7, 0, ".snappy.parquet")
