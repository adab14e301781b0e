"""Logic of the stack runner that needs no running service."""

from __future__ import annotations

import configparser
import stat
from pathlib import Path

import pytest

from smartcity.settings import Settings
from smartcity.stack import jars, secrets
from smartcity.stack.environment import export_lines, stack_env
from smartcity.stack.services import ALL, StackContext
from smartcity.stack.services.seaweedfs import bucket_of
from smartcity.stack.supervisor import SupervisorPaths, render_config


@pytest.mark.parametrize(
    ("jar", "artifact"),
    [
        ("netty-buffer-4.1.126.Final.jar", "netty-buffer"),
        ("spark-sql-kafka-0-10_2.13-4.2.0.jar", "spark-sql-kafka-0-10_2.13"),
        ("commons-pool2-2.13.1.jar", "commons-pool2"),
        ("s3-2.35.4.jar", "s3"),
    ],
)
def test_artifact_name_strips_the_version(jar: str, artifact: str) -> None:
    assert jars.artifact_name(jar) == artifact


def test_secrets_are_generated_once_and_private(tmp_path: Path) -> None:
    path = tmp_path / "secrets" / "credentials.json"
    first = secrets.ensure(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert secrets.ensure(path) == first
    other = secrets.ensure(tmp_path / "elsewhere.json")
    assert other.s3_secret_key != first.s3_secret_key
    assert len(first.s3_access_key) == 20 and len(first.s3_secret_key) == 40


def test_supervisor_config_keeps_each_service_in_its_own_process_group(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    stack_secrets = secrets.ensure(tmp_path / "s.json")
    ctx = StackContext(settings, stack_secrets, stack_env(settings, stack_secrets))
    paths = SupervisorPaths(tmp_path / "run", tmp_path / "logs")
    parser = configparser.RawConfigParser()
    parser.read_string(render_config(paths, ctx, [s for s in ALL if s.enabled(settings)]))
    assert parser["unix_http_server"]["chmod"] == "0700"
    assert "inet_http_server" not in parser
    programs = [section for section in parser.sections() if section.startswith("program:")]
    assert programs[:3] == ["program:seaweedfs", "program:kafka", "program:standin"]
    for section in programs:
        assert parser[section]["stopasgroup"] == "true"
        assert parser[section]["killasgroup"] == "true"
        assert parser[section]["stdout_logfile"].startswith(str(tmp_path / "logs"))


def test_standalone_mode_adds_master_and_worker() -> None:
    names = [s.name for s in ALL if s.enabled(Settings(spark_mode="standalone"))]
    assert {"spark-master", "spark-worker"} <= set(names)
    assert not {"spark-master", "spark-worker"} & {s.name for s in ALL if s.enabled(Settings())}


def test_env_lines_are_shell_safe() -> None:
    lines = export_lines({"A": "plain", "B": "has space'and quote"})
    assert lines.splitlines() == ["export A=plain", "export B='has space'\"'\"'and quote'"]


def test_aws_target_never_falls_back_to_local_endpoints(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL_GLUE", "AWS_ENDPOINT_URL_ATHENA", "SMARTCITY_S3_PORT"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("SMARTCITY_TARGET", "aws")
    settings = Settings()
    assert settings.s3_endpoint is None and settings.glue_endpoint is None and settings.athena_endpoint is None
    monkeypatch.setenv("SMARTCITY_TARGET", "local")
    assert Settings().s3_endpoint == "http://127.0.0.1:8333"


@pytest.mark.parametrize(
    ("uri", "bucket"),
    [("s3://b/results/", "b"), ("s3a://lake/data/x", "lake"), ("s3://only", "only")],
)
def test_bucket_of(uri: str, bucket: str) -> None:
    assert bucket_of(uri) == bucket


def test_supervisor_environment_survives_json_values() -> None:
    from supervisor.datatypes import dict_of_key_value_pairs

    from smartcity.stack.supervisor import _environment_value

    env = {"CONN": '{"conn_type": "aws", "extra": {"a": "100%"}}', "PLAIN": "x y", "PATH": "/a:/b"}
    rendered = _environment_value(env).replace("%%", "%")  # supervisor %-expands the value first
    assert dict_of_key_value_pairs(rendered) == env
