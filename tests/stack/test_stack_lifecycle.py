"""Start/stop and failure paths, on a second small stack of its own (not the shared session stack)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from typer.testing import CliRunner

from smartcity.cli import app
from smartcity.settings import Settings
from smartcity.stack.errors import StackError
from smartcity.stack.runner import Stack
from smartcity.stack.services.base import port_is_free
from smartcity.stack.smoke import run_smoke
from tests.stack_isolation import isolate_stack_environment


@pytest.fixture
def own_stack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Stack]:
    isolate_stack_environment(monkeypatch, str(tmp_path / "data"))
    stack = Stack(Settings())
    yield stack
    stack.down()


def _stack_ports(stack: Stack) -> list[int]:
    return [p.number for s in stack.services() for p in s.ports(stack.settings)]


def test_down_leaves_no_process_and_no_listening_port(own_stack: Stack) -> None:
    own_stack.up()
    pids = [s.pid for s in own_stack.status()]
    assert all(pids)
    tree = [psutil.Process(pid) for pid in pids]
    tree += [child for p in tree for child in p.children(recursive=True)]
    supervisor_pid = own_stack._supervisor().daemon_pid()

    own_stack.down()

    assert not any(p.is_running() and p.status() != psutil.STATUS_ZOMBIE for p in tree)
    assert supervisor_pid and not psutil.pid_exists(supervisor_pid)
    assert all(port_is_free(port) for port in _stack_ports(own_stack))
    assert all(s.state == "STOPPED" for s in own_stack.status())


def test_port_in_use_is_reported_with_the_setting_to_change(own_stack: Stack) -> None:
    blocker = socket.socket()
    blocker.bind(("127.0.0.1", own_stack.settings.kafka_port))
    blocker.listen()
    try:
        with pytest.raises(StackError) as caught:
            own_stack.up()
    finally:
        blocker.close()
    message = str(caught.value)
    assert str(own_stack.settings.kafka_port) in message
    assert "SMARTCITY_KAFKA_PORT" in message


def test_service_dying_at_start_shows_its_log(own_stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMARTCITY_KAFKA_HEAP", "not-a-size")
    stack = Stack(Settings())
    with pytest.raises(StackError) as caught:
        stack.up()
    message = str(caught.value)
    assert "kafka exited during start" in message
    assert "Invalid" in message or "Error" in message  # the JVM's own complaint, from the log tail


def test_corrupt_secrets_file_is_a_clear_error(own_stack: Stack) -> None:
    secrets_file = own_stack.settings.secrets_file
    secrets_file.parent.mkdir(parents=True)
    secrets_file.write_text("{not json")
    result = CliRunner().invoke(app, ["stack", "up"])
    assert result.exit_code == 1
    assert "corrupt" in result.output
    assert "stack reset" in result.output
    assert "Traceback" not in result.output


def test_cli_logs_of_unknown_service_is_a_clear_error(own_stack: Stack) -> None:
    result = CliRunner().invoke(app, ["stack", "logs", "nope"])
    assert result.exit_code == 1
    assert "Unknown service 'nope'" in result.output


def test_standalone_spark_mode_runs_a_job_on_the_master_and_worker(
    own_stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SMARTCITY_SPARK_MODE", "standalone")
    stack = Stack(Settings())
    stack.up()
    try:
        statuses = {s.name: s for s in stack.status()}
        assert statuses["spark-master"].healthy and statuses["spark-worker"].healthy
        conf = (stack.settings.spark_conf_dir / "spark-defaults.conf").read_text()
        assert f"spark://127.0.0.1:{stack.settings.spark_master_port}" in conf
        result = run_smoke(stack.settings, 300, lambda _: None)
        assert result.landed == result.acknowledged == 300
        # The application really ran on the cluster: the worker launched executors for it.
        work_dir = stack.settings.data_dir / "spark-worker" / "work"
        assert any(work_dir.glob("app-*/*/stderr"))
    finally:
        stack.down()
