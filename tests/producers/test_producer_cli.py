"""Bad input to the producer: one clear message, exit 2; an unreachable broker: a clear error, exit 1."""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from producers.cli import app
from producers.kafka_io import KafkaSink, producer_config


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # nothing listens once the socket is closed


@pytest.mark.parametrize(
    ("args", "option", "message"),
    [
        (["--vehicles", "0"], "--vehicles", "greater than or equal to 1"),
        (["--vehicles", "many"], "--vehicles", "valid integer"),
        (["--cadence", "gps_data"], "--cadence", "expected STREAM=SECONDS"),
        (["--cadence", "traffic_data=5"], "--cadence", "cadence only applies to"),
        (["--streams", "gps,vehicle_data"], "--streams", "unknown stream(s) gps"),
        (["--bad-record-rate", "1.5"], "--bad-record-rate", "less than or equal to 1"),
        (["--bad-kinds", "late,typo"], "--bad-kinds", "unknown kind(s) typo"),
        (["--start-time", "2025-03-01T06:00:00"], "--start-time", "needs a zone"),
        (["--start-time", "tomorrow"], "--start-time", "not an ISO-8601 date-time"),
        (["--speed-up", "0"], "--speed-up", "greater than 0"),
        (["--real-time", "--speed-up", "10"], "--real-time", "either --real-time or --speed-up"),
        (["--compression", "brotli"], "--compression", "should match pattern"),
        (["--snapshot-concurrency", "50"], "--snapshot-concurrency", "less than or equal to 10"),
    ],
)
def test_invalid_arguments_give_one_message_and_exit_2(args, option, message):
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2, result.output
    assert option in result.output
    assert message in " ".join(result.output.split())  # rich may wrap the line
    assert "Traceback" not in result.output


def test_unreachable_broker_is_a_clear_error_with_exit_1(tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "producers",
            "--bootstrap-servers",
            f"127.0.0.1:{closed_port()}",
            "--connect-attempts",
            "2",
            "--connect-timeout",
            "1",
            "--streams",
            "gps_data",
            "--no-report-upload",
            "--report",
            str(tmp_path / "report.json"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1, result.stderr
    assert "is not reachable after 2 attempts" in result.stderr
    assert "Traceback" not in result.stderr


def test_undeliverable_messages_are_counted_failed_not_lost():
    """A real librdkafka client with no broker: every message ends up reported as failed."""
    config = producer_config(f"127.0.0.1:{closed_port()}", client_id="test", delivery_timeout_s=1)
    sink = KafkaSink(config, ["gps_data"], batch_messages=10)
    for i in range(25):
        sink.send("gps_data", f"vehicle-{i % 3}", b"{}")
    left = sink.close(timeout_s=15)
    assert left == 0
    assert sink.produced[("gps_data", None)] == 25
    assert sink.failed[("gps_data", None)] == 25
    assert "timed out" in sink.first_failure.lower()
