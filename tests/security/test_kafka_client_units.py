"""How Kafka client configs are built from Settings (no broker needed)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from smartcity.kafka_client import confluent_config, spark_kafka_options
from smartcity.settings import Settings
from smartcity.stack import secrets
from spark_jobs.job_config import parse_args


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    for name in ["USERNAME", "PASSWORD", "SECURITY_PROTOCOL", "SASL_MECHANISM"]:
        monkeypatch.delenv(f"SMARTCITY_KAFKA_{name}", raising=False)
    monkeypatch.setenv("SMARTCITY_DATA_DIR", str(tmp_path))
    return tmp_path


def test_no_credentials_means_plaintext(clean_env: Path) -> None:
    settings = Settings()
    assert confluent_config(settings) == {"bootstrap.servers": settings.kafka_bootstrap}
    assert spark_kafka_options(settings) == {}


def test_empty_variables_mean_unset(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ["USERNAME", "PASSWORD", "SECURITY_PROTOCOL", "SASL_MECHANISM"]:
        monkeypatch.setenv(f"SMARTCITY_KAFKA_{name}", "")
    assert Settings().kafka_protocol == "PLAINTEXT"


def test_local_stack_credentials_come_from_its_secrets_file(clean_env: Path) -> None:
    settings = Settings()
    stored = secrets.ensure(settings.secrets_file)
    config = confluent_config(Settings(), **{"linger.ms": 5})
    assert config["sasl.username"] == stored.kafka_username and config["sasl.password"] == stored.kafka_password
    assert config["security.protocol"] == "sasl_plaintext" and config["linger.ms"] == 5
    # The target "aws" never falls back to the local stack's secrets.
    assert confluent_config(Settings(target="aws")) == {"bootstrap.servers": settings.kafka_bootstrap}


def test_older_secrets_files_gain_kafka_credentials(clean_env: Path) -> None:
    path = Settings().secrets_file
    created = secrets.ensure(path).model_dump()
    old = {k: v for k, v in created.items() if not k.startswith("kafka_")}
    secrets.write_private(path, json.dumps(old))
    upgraded = secrets.ensure(path)
    assert upgraded.kafka_password and json.loads(path.read_text())["kafka_password"] == upgraded.kafka_password
    assert secrets.ensure(path) == upgraded  # generated once, then stable
    assert path.stat().st_mode & 0o077 == 0


def test_jaas_quotes_are_escaped() -> None:
    options = spark_kafka_options(Settings(kafka_username="u", kafka_password='p"w\\'))
    assert options["kafka.sasl.jaas.config"].endswith('username="u" password="p\\"w\\\\";')


def test_streaming_job_gets_security_from_the_environment_not_argv(clean_env: Path) -> None:
    settings = Settings(kafka_username="u", kafka_password="secret-pw")
    config = parse_args(["--streams", "gps_data"], settings)
    assert config.kafka_options["security.protocol"] == "SASL_PLAINTEXT"
    assert 'password="secret-pw"' in config.kafka_options["sasl.jaas.config"]
    overridden = parse_args(["--kafka-option", "security.protocol=PLAINTEXT"], settings)
    assert overridden.kafka_options["security.protocol"] == "PLAINTEXT"


def test_broker_accepts_only_scram_except_during_an_upgrade(tmp_path: Path) -> None:
    from smartcity.stack.services.kafka import Kafka

    stored = secrets.ensure(tmp_path / "credentials.json")
    settings = Settings(data_dir=tmp_path)

    def props(upgrading: bool) -> dict[str, str]:
        text = Kafka().server_properties(settings, tmp_path / "data", stored, upgrading)
        return dict(line.split("=", 1) for line in text.splitlines())

    normal = props(False)
    assert normal["listeners"].startswith("SASL_PLAINTEXT://127.0.0.1:")
    assert "PLAINTEXT://" not in normal["listeners"].replace("SASL_PLAINTEXT://", "")
    assert "CONTROLLER://127.0.0.1:" in normal["listeners"]
    assert normal["sasl.enabled.mechanisms"] == "SCRAM-SHA-512"
    assert not any("plain.sasl" in key for key in normal)
    assert props(True)["sasl.enabled.mechanisms"] == "SCRAM-SHA-512,PLAIN"
