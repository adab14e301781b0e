"""A stack service down: the journey's first task fails with a message naming each unreachable service."""

from __future__ import annotations

import json
import socket

import pytest
from airflow.sdk.exceptions import AirflowException

from plugins.lake_tasks import check_services


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # nothing listens once the socket is closed


def test_preflight_names_every_service_that_is_down(monkeypatch: pytest.MonkeyPatch) -> None:
    dead = f"http://127.0.0.1:{_closed_port()}"
    connection = {
        "conn_type": "aws",
        "login": "key",
        "password": "secret",
        "extra": {"region_name": "us-east-1", "endpoint_url": dead, "config_kwargs": {"retries": {"max_attempts": 1}}},
    }
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", json.dumps(connection))
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", f"127.0.0.1:{_closed_port()}")
    with pytest.raises(AirflowException) as failure:
        check_services.function()
    message = str(failure.value)
    assert "Kafka at 127.0.0.1:" in message
    for service in ("S3", "Glue", "Athena"):
        assert f"{service} is not usable through the aws_default connection" in message
        assert dead in message
