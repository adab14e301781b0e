"""``smartcity aws`` pieces that need no service: names, drift detection, connection settings, errors."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from smartcity.aws.cli import app
from smartcity.aws.connections import airflow_settings
from smartcity.aws.kinds import differences
from smartcity.aws.resources import InvalidNameError, names_from
from smartcity.settings import Settings


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("SMARTCITY_LAKE_BUCKET", "Upper_Case"),
        ("SMARTCITY_IMAGES_BUCKET", "ab"),
        ("SMARTCITY_GLUE_DATABASE", "has-dash"),
        ("SMARTCITY_ATHENA_OUTPUT", "/local/path"),
    ],
)
def test_a_name_aws_would_refuse_is_a_clear_error_before_any_call(
    variable: str, value: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(variable, value)
    # Nothing listens here: the error must come from the name check, not from a connection attempt.
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:9")
    result = CliRunner().invoke(app, ["bootstrap", "--dry-run"])
    assert result.exit_code == 1
    assert variable in result.output
    assert "Traceback" not in result.output


def test_names_refuse_an_empty_crawler_role() -> None:
    with pytest.raises(InvalidNameError, match="crawler-role"):
        names_from(Settings(glue_crawler_role=""))


def test_differences_ignores_defaults_the_service_adds_and_names_what_changed() -> None:
    wanted = {"A": 1, "B": {"C": [1, 2]}}
    assert differences(wanted, {"A": 1, "B": {"C": [1, 2], "Default": True}, "Extra": 0}) == []
    assert differences(wanted, {"A": 2, "B": {"C": [1]}}) == ["A", "B.C"]
    assert differences(wanted, {"A": 1}) == ["B"]


def test_connection_settings_carry_no_credentials_and_endpoints_only_when_configured(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLEKEY")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret-never-printed")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    for name in ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL_GLUE", "AWS_ENDPOINT_URL_ATHENA"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SMARTCITY_TARGET", "aws")
    cloud = Settings()
    env = airflow_settings(cloud, names_from(cloud))
    assert json.loads(env["AIRFLOW_CONN_AWS_DEFAULT"]) == {"conn_type": "aws", "extra": {"region_name": "eu-west-1"}}
    assert not any("secret-never-printed" in value or "AKIDEXAMPLEKEY" in value for value in env.values())

    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:8333")
    monkeypatch.setenv("AWS_ENDPOINT_URL_GLUE", "http://127.0.0.1:4566")
    local = Settings()
    extra = json.loads(airflow_settings(local, names_from(local))["AIRFLOW_CONN_AWS_DEFAULT"])["extra"]
    assert extra["service_config"]["s3"] == {"endpoint_url": "http://127.0.0.1:8333"}
    assert extra["service_config"]["glue"] == {"endpoint_url": "http://127.0.0.1:4566"}
    assert "athena" not in extra["service_config"]


def test_unreachable_endpoint_is_a_message_not_a_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:9")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLEKEY")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "example")
    result = CliRunner().invoke(app, ["bootstrap", "--dry-run"])
    assert result.exit_code == 1
    assert "error:" in result.output and "127.0.0.1:9" in result.output
    assert "Traceback" not in result.output
