"""Bad input tried: the CLI answers invalid values with a clear error and a non-zero exit, never a traceback;
Athena ExecutionParameters are bound as literals and cannot smuggle SQL (a subquery reaching other databases)."""

from __future__ import annotations

import time

import pytest
from typer.testing import CliRunner

from smartcity.cli import app
from smartcity.settings import Settings


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["produce", "--vehicles", "-1"], "--vehicles"),
        (["produce", "--vehicles", "0"], "--vehicles"),
        (["produce", "--duration", "abc"], "--duration"),
        (["produce", "--duration", "-5"], "--duration"),
        (["produce", "--streams", "no_such_stream"], "unknown stream"),
        (["produce", "--bad-record-rate", "2"], "--bad-record-rate"),
        (["produce", "--vehicles", "1e9x"], "--vehicles"),
        (["stack", "logs", "no-such-service"], "Unknown service"),
    ],
)
def test_cli_rejects_invalid_values_clearly(args: list[str], says: str, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("SMARTCITY_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:1")  # nothing may be produced anywhere
    monkeypatch.setenv("COLUMNS", "200")  # keep typer's error box on one line per message
    result = CliRunner().invoke(app, args)
    assert result.exit_code != 0
    assert isinstance(result.exception, SystemExit), result.exception  # an exit, not an escaped exception
    assert "Traceback" not in result.output
    assert says.lower() in " ".join(result.output.split()).lower(), result.output


def _query(athena, sql: str, parameters: list[str], database: str, workgroup: str) -> dict:
    query_id = athena.start_query_execution(
        QueryString=sql,
        QueryExecutionContext={"Database": database},
        WorkGroup=workgroup,
        ExecutionParameters=parameters,
    )["QueryExecutionId"]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        execution = athena.get_query_execution(QueryExecutionId=query_id)["QueryExecution"]
        if execution["Status"]["State"] in {"SUCCEEDED", "FAILED", "CANCELLED"}:
            return execution
        time.sleep(0.1)
    raise AssertionError(f"query {query_id} did not finish")


INJECTIONS = [
    "'x' OR 1=1",
    "1; DROP TABLE vehicle_data",
    "'a'); SELECT * FROM other_db.secrets --",
    "(SELECT 'pwned')",
    # A subquery inside what looks like a typed literal or a sign must not run either.
    "CAST((SELECT 'pwned') AS VARCHAR)",
    "-(SELECT 42)",
    "CAST((SELECT count(*) FROM information_schema.tables) AS VARCHAR)",
]


@pytest.mark.parametrize("payload", INJECTIONS)
def test_athena_execution_parameters_cannot_inject_sql(stack: Settings, payload: str) -> None:
    athena = stack.boto3_client("athena")
    # "primary" always exists (the project's own work group is created by `smartcity aws bootstrap`).
    execution = _query(athena, "SELECT ? AS v", [payload], stack.glue_database, "primary")
    state = execution["Status"]["State"]
    if state == "SUCCEEDED":
        rows = athena.get_query_results(QueryExecutionId=execution["QueryExecutionId"])["ResultSet"]["Rows"]
        values = [cell.get("VarCharValue") for row in rows[1:] for cell in row["Data"]]
        # Bound as a literal, the value is the payload itself; anything else means SQL in it was executed.
        assert values in ([payload], [payload.strip("'")]), f"parameter {payload!r} was executed: {values}"
    else:
        reason = execution["Status"].get("StateChangeReason", "")
        # Refused as a parameter, before any SQL in it is planned or run.
        assert state == "FAILED" and reason.startswith("INVALID_PARAMETER_USAGE"), execution["Status"]
