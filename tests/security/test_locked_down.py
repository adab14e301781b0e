"""Locked down: every server of the running session stack refuses clients without the generated secrets.

Real services only (the session ``stack``); each test would fail if its lock were removed: Kafka back to
PLAINTEXT, SeaweedFS without its JWT signing keys, Airflow without authentication, a server on 0.0.0.0.
"""

from __future__ import annotations

import contextlib
import json
import time
import uuid
from typing import Any

import jwt
import psutil
import pytest
import requests
from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

from smartcity.kafka_client import confluent_config, spark_kafka_options
from smartcity.settings import Settings
from smartcity.stack import secrets
from smartcity.stack.runner import Stack

pytestmark = pytest.mark.timeout(600)


def _stack_processes(runner: Stack, service: str | None = None) -> list[psutil.Process]:
    pids = [s.pid for s in runner.status() if s.pid and (service is None or s.name == service)]
    processes = [psutil.Process(pid) for pid in pids]
    return processes + [child for p in processes for child in p.children(recursive=True)]


def _listening(processes: list[psutil.Process]) -> list[tuple[str, Any]]:
    """(process name, local address) of every listening socket; children that exit meanwhile are skipped."""
    found = []
    for proc in processes:
        with contextlib.suppress(psutil.NoSuchProcess):
            found += [
                (proc.name(), c.laddr) for c in proc.net_connections(kind="inet") if c.status == psutil.CONN_LISTEN
            ]
    return found


def _listening_ports(processes: list[psutil.Process]) -> set[int]:
    return {addr.port for _name, addr in _listening(processes)}


# --- Kafka -------------------------------------------------------------------------------------------------
def _metadata(config: dict) -> list[int]:
    """Broker ids from a metadata request; raises KafkaException when the broker refuses the client."""
    return list(AdminClient({**config, "log_level": 0, "logger": lambda *_: None}).list_topics(timeout=8).brokers)


def test_kafka_accepts_the_generated_user(stack: Settings) -> None:
    config = confluent_config(stack)
    assert config["security.protocol"] == "sasl_plaintext"
    assert config["sasl.mechanism"] == "SCRAM-SHA-512"
    assert _metadata(config) == [1]


@pytest.mark.parametrize(
    "change",
    [
        pytest.param({"security.protocol": "plaintext"}, id="unauthenticated"),
        pytest.param({"sasl.password": "not-the-password"}, id="wrong-password"),
        pytest.param({"sasl.username": "admin"}, id="unknown-user"),
        pytest.param({"sasl.mechanism": "PLAIN"}, id="plain-mechanism"),
    ],
)
def test_kafka_refuses_clients_without_the_generated_credentials(stack: Settings, change: dict) -> None:
    config = {**confluent_config(stack), **change}
    if change.get("security.protocol") == "plaintext":
        config = {k: v for k, v in config.items() if not k.startswith("sasl.")}
    with pytest.raises(KafkaException):
        _metadata(config)


def test_spark_options_carry_the_credentials_as_jaas(stack: Settings) -> None:
    options = spark_kafka_options(stack)
    assert options["kafka.security.protocol"] == "SASL_PLAINTEXT"
    assert options["kafka.sasl.mechanism"] == "SCRAM-SHA-512"
    assert options["kafka.sasl.jaas.config"].startswith("org.apache.kafka.common.security.scram.ScramLoginModule")
    assert f'password="{stack.kafka_secret}"' in options["kafka.sasl.jaas.config"]


# --- SeaweedFS ---------------------------------------------------------------------------------------------
def _filer_token(key: str) -> str:
    return jwt.encode({"exp": int(time.time()) + 60}, key, algorithm="HS256")


def test_seaweedfs_serves_no_object_through_any_port_without_credentials(stack: Settings, stack_runner: Stack) -> None:
    stack_secrets = secrets.load(stack.secrets_file)
    assert stack_secrets is not None
    marker = f"lake-object-{uuid.uuid4().hex}".encode()
    key = f"tests/security/{uuid.uuid4().hex}.txt"
    stack.boto3_client("s3").put_object(Bucket=stack.lake_bucket, Key=key, Body=marker)

    # An attacker who somehow knows the chunk's file id: ask the filer with its read key (which we hold).
    filer = f"http://127.0.0.1:{stack.seaweed_filer_port}"
    meta = requests.get(
        f"{filer}/buckets/{stack.lake_bucket}/{key}",
        params={"metadata": "true"},
        headers={"Authorization": f"Bearer {_filer_token(stack_secrets.seaweed_filer_jwt_read)}"},
        timeout=5,
    )
    assert meta.status_code == 200, meta.text
    fid = meta.json()["chunks"][0]["file_id"]

    ports = _listening_ports(_stack_processes(stack_runner, "seaweedfs"))
    assert {stack.s3_port, stack.seaweed_filer_port, stack.seaweed_master_port, stack.seaweed_volume_port} <= ports
    paths = [f"/{stack.lake_bucket}/{key}", f"/buckets/{stack.lake_bucket}/{key}", f"/{fid}", f"/{fid}?read=yes"]
    served = []
    for port in sorted(ports):
        for path in paths:
            try:
                response = requests.get(f"http://127.0.0.1:{port}{path}", timeout=5, allow_redirects=True)
            except requests.RequestException:
                continue  # gRPC ports speak HTTP/2 only: refused at the protocol level
            if marker in response.content:
                served.append(f"{port}{path} -> {response.status_code}")
    assert served == [], f"object data served without credentials: {served}"

    # Control: the file id is right, and it is the volume server's read key (not a wrong path) that refuses.
    volume_token = jwt.encode({"exp": int(time.time()) + 60, "fid": fid}, stack_secrets.seaweed_jwt_read, "HS256")
    signed = requests.get(
        f"http://127.0.0.1:{stack.seaweed_volume_port}/{fid}",
        headers={"Authorization": f"Bearer {volume_token}"},
        timeout=5,
    )
    assert signed.status_code == 200 and marker in signed.content


def test_seaweedfs_filer_listing_needs_its_key(stack: Settings) -> None:
    response = requests.get(
        f"http://127.0.0.1:{stack.seaweed_filer_port}/buckets/{stack.lake_bucket}/",
        headers={"Accept": "application/json"},
        timeout=5,
    )
    assert response.status_code in {401, 403}


# --- Airflow -----------------------------------------------------------------------------------------------
def test_airflow_refuses_an_unauthenticated_trigger(stack: Settings) -> None:
    url = f"{stack.airflow_base_url}/api/v2/dags/smartcity_journey/dagRuns"
    response = requests.post(url, json={"logical_date": None}, timeout=10)
    assert response.status_code in {401, 403}, response.text
    forged = requests.post(url, json={"logical_date": None}, headers={"Authorization": "Bearer forged"}, timeout=10)
    assert forged.status_code in {401, 403}, forged.text


@pytest.mark.parametrize("password", ["admin", "airflow", "password", ""])
def test_airflow_admin_password_is_generated_not_a_default(stack: Settings, password: str) -> None:
    assert stack.admin_password and len(stack.admin_password) >= 16
    assert stack.admin_password != password
    response = requests.post(
        f"{stack.airflow_base_url}/auth/token", json={"username": stack.airflow_user, "password": password}, timeout=10
    )
    assert response.status_code in {400, 401, 403, 422}, response.text


# --- sockets and secrets -------------------------------------------------------------------------------------
def test_every_server_of_the_full_stack_listens_on_loopback_only(stack: Settings, stack_runner: Stack) -> None:
    names = {s.name for s in stack_runner.status() if s.pid}
    assert {"kafka", "seaweedfs", "standin", "airflow-api-server"} <= names, names
    listening = _listening(_stack_processes(stack_runner))
    exposed = [(name, addr) for name, addr in listening if addr.ip not in {"127.0.0.1", "::ffff:127.0.0.1"}]
    assert listening and exposed == []


def test_no_secret_on_any_stack_command_line(stack: Settings, stack_runner: Stack) -> None:
    values = _secret_values(stack)
    leaks = []
    for proc in _stack_processes(stack_runner):
        with contextlib.suppress(psutil.NoSuchProcess):
            if any(value in " ".join(proc.cmdline()) for value in values):
                leaks.append((proc.pid, proc.name()))
    assert leaks == []


NOT_SECRET = {"s3_access_key", "kafka_username"}  # identifiers, like a user name: logging them is fine


def _secret_values(settings: Settings) -> list[str]:
    stored = json.loads(settings.secrets_file.read_text())
    values = [value for name, value in stored.items() if name not in NOT_SECRET and isinstance(value, str)]
    assert settings.kafka_secret in values and settings.secret_key in values
    return values


def test_secrets_file_is_private(stack: Settings) -> None:
    assert stack.secrets_file.stat().st_mode & 0o077 == 0
    assert (stack.data_dir / "kafka" / "server.properties").stat().st_mode & 0o077 == 0
