"""Secrets: never logged by a real run, never committed (detect-secrets over the git-tracked files)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from smartcity.settings import PROJECT_ROOT, Settings
from smartcity.stack.services.airflow import airflow_home
from smartcity.stack.smoke import run_smoke

pytestmark = pytest.mark.timeout(900)

# Identifiers, like a user name: they may appear in logs. Everything else in the secrets file is secret.
NOT_SECRET = {"s3_access_key", "kafka_username"}
BASELINE = Path(__file__).with_name("detect-secrets-baseline.json")


def _log_files(settings: Settings) -> list[Path]:
    roots = [settings.logs_dir, airflow_home(settings) / "logs", settings.data_dir / "smoke"]
    found = [p for root in roots if root.exists() for p in root.rglob("*") if p.is_file()]
    return [p for p in found if p.suffix in {".log", ""} or ".log" in p.name]


def _spark_logs(files: list[Path]) -> list[Path]:
    """spark-submit output: the smoke's own log, or the journey DAG's stream_to_lake task logs."""
    return [p for p in files if "spark-submit" in p.name or "task_id=stream_to_lake" in str(p)]


def test_a_real_run_logs_no_secret(stack: Settings) -> None:
    # A real flow must have run on this stack: in the full suite the journey e2e (tests/airflow) already ran
    # producer, spark-submit with JAAS options, crawler and Athena; alone, a small smoke flow stands in.
    if not _spark_logs(_log_files(stack)):
        result = run_smoke(stack, 200, lambda _message: None)
        assert result.ok, result.summary()
    stored = json.loads(stack.secrets_file.read_text())
    secrets = {name: value for name, value in stored.items() if name not in NOT_SECRET}
    assert {"kafka_password", "s3_secret_key", "airflow_password"} <= set(secrets)
    files = _log_files(stack)
    assert any("kafka" in p.name for p in files) and _spark_logs(files), files
    leaks = [
        f"{name} in {path}"
        for path in files
        for text in [path.read_text(errors="replace")]
        for name, value in secrets.items()
        if value in text
    ]
    assert leaks == []


def _tracked_files() -> list[str]:
    if shutil.which("git") is None or not (PROJECT_ROOT / ".git").exists():
        pytest.skip("not a git checkout: nothing tracked to scan")
    listed = subprocess.run(
        ["git", "ls-files", "-z"], cwd=PROJECT_ROOT, capture_output=True, text=True, check=True
    ).stdout
    # The allowance file holds the hashes of findings by design: scanning it would flag every allowance.
    skip = {str(BASELINE.relative_to(PROJECT_ROOT))}
    return [name for name in listed.split("\0") if name and name not in skip and (PROJECT_ROOT / name).is_file()]


def test_no_secret_is_committed() -> None:
    """detect-secrets over every tracked file; justified false positives live in the baseline, with a reason."""
    files = _tracked_files()
    scan = subprocess.run(
        [str(Path(sys.executable).parent / "detect-secrets"), "scan", "--all-files", *files],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert scan.returncode == 0, scan.stderr
    found = json.loads(scan.stdout)["results"]
    allowed = json.loads(BASELINE.read_text())["allowed"]
    unexplained = [
        f"{path}:{hit['line_number']} ({hit['type']})"
        for path, hits in found.items()
        for hit in hits
        if hit["hashed_secret"] not in allowed.get(path, {})
    ]
    assert unexplained == [], "possible secrets in tracked files:\n" + "\n".join(unexplained)
    for path, reasons in allowed.items():
        assert all(reason.strip() for reason in reasons.values()), f"{path}: every allowance needs a reason"
