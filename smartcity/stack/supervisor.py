"""The stack's process manager: supervisord, driven over its XML-RPC API.

supervisord keeps each service in its own process group (stopasgroup/killasgroup
so a JVM's or weed's children go with it), captures logs to files, and answers
state queries; we add readiness probes on top. It listens on a unix socket in
the data directory (0700) with a generated password, never on TCP.
"""

from __future__ import annotations

import configparser
import contextlib
import io
import os
import shlex
import subprocess
import sys
import time
import xmlrpc.client
from dataclasses import dataclass
from pathlib import Path

from supervisor.xmlrpc import SupervisorTransport

from smartcity.stack.errors import StackError
from smartcity.stack.secrets import write_private
from smartcity.stack.services.base import Service, StackContext


@dataclass(frozen=True)
class SupervisorPaths:
    run_dir: Path
    logs_dir: Path

    @property
    def conf(self) -> Path:
        return self.run_dir / "supervisord.conf"

    @property
    def socket(self) -> Path:
        return self.run_dir / "supervisor.sock"

    @property
    def pidfile(self) -> Path:
        return self.run_dir / "supervisord.pid"

    def log(self, service: str) -> Path:
        return self.logs_dir / f"{service}.log"


def _environment_value(env: dict[str, str]) -> str:
    """supervisor's format: KEY="value",KEY2='value2' (its parser knows quotes, not backslash escapes)."""
    items = []
    for key, value in sorted(env.items()):
        quote = '"' if '"' not in value else "'"
        if quote in value:
            raise StackError(f"{key} holds both quote characters; supervisor cannot pass it to a service")
        items.append(f"{key}={quote}{value.replace('%', '%%')}{quote}")
    return ",".join(items)


def render_config(paths: SupervisorPaths, ctx: StackContext, services: list[Service]) -> str:
    parser = configparser.RawConfigParser()
    parser["unix_http_server"] = {
        "file": str(paths.socket),
        "chmod": "0700",
        "username": "smartcity",
        "password": ctx.secrets.supervisor_password,
    }
    parser["supervisord"] = {
        "logfile": str(paths.logs_dir / "supervisord.log"),
        "logfile_maxbytes": "10MB",
        "logfile_backups": "2",
        "pidfile": str(paths.pidfile),
        "directory": str(paths.run_dir),
        "nodaemon": "false",
        "silent": "true",
        "minfds": "4096",
    }
    parser["rpcinterface:supervisor"] = {
        "supervisor.rpcinterface_factory": "supervisor.rpcinterface:make_main_rpcinterface"
    }
    parser["supervisorctl"] = {
        "serverurl": f"unix://{paths.socket}",
        "username": "smartcity",
        "password": ctx.secrets.supervisor_password,
    }
    for service in services:
        parser[f"program:{service.name}"] = {
            "command": shlex.join(service.command(ctx)).replace("%", "%%"),
            "directory": str(service.working_dir(ctx)),
            "environment": _environment_value(service.environment(ctx)),
            "autostart": "false",
            # The stack decides about restarts (a crash is shown by `stack status`, not hidden).
            "autorestart": "false",
            "startsecs": "0",
            "startretries": "0",
            "stopsignal": "TERM",
            "stopwaitsecs": str(service.stop_wait_s),
            "stopasgroup": "true",
            "killasgroup": "true",
            "redirect_stderr": "true",
            "stdout_logfile": str(paths.log(service.name)),
            "stdout_logfile_maxbytes": "50MB",
            "stdout_logfile_backups": "2",
        }
    out = io.StringIO()
    parser.write(out)
    return out.getvalue()


class Supervisor:
    """A handle on the stack's supervisord (which may or may not be running)."""

    def __init__(self, paths: SupervisorPaths, password: str) -> None:
        self.paths = paths
        self._password = password

    def _proxy(self) -> xmlrpc.client.ServerProxy:
        transport = SupervisorTransport("smartcity", self._password, serverurl=f"unix://{self.paths.socket}")
        return xmlrpc.client.ServerProxy("http://127.0.0.1", transport=transport)

    @property
    def rpc(self):
        return self._proxy().supervisor

    def is_running(self) -> bool:
        if not self.paths.socket.exists():
            return False
        try:
            return self.rpc.getState()["statename"] == "RUNNING"
        except (OSError, xmlrpc.client.Fault, xmlrpc.client.ProtocolError):
            return False

    def write_config(self, text: str) -> None:
        write_private(self.paths.conf, text)

    def start_daemon(self, timeout_s: float = 15) -> None:
        self.paths.logs_dir.mkdir(parents=True, exist_ok=True)
        cmd = [sys.executable, "-m", "supervisor.supervisord", "-c", str(self.paths.conf)]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise StackError(f"supervisord did not start: {proc.stdout}{proc.stderr}".strip())
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.is_running():
                return
            time.sleep(0.1)
        raise StackError(f"supervisord did not answer on {self.paths.socket} within {timeout_s:.0f} s")

    def reload(self) -> None:
        """Apply a rewritten config: add new programs, drop removed ones, update changed stopped ones."""
        added, changed, removed = self.rpc.reloadConfig()[0]
        for name in removed:
            self.stop(name)
            self.rpc.removeProcessGroup(name)
        for name in changed:
            if self.info(name)["statename"] not in {"RUNNING", "STARTING"}:
                self.rpc.removeProcessGroup(name)
                self.rpc.addProcessGroup(name)
        for name in added:
            self.rpc.addProcessGroup(name)

    def info(self, name: str) -> dict:
        return self.rpc.getProcessInfo(name)

    def all_info(self) -> list[dict]:
        return self.rpc.getAllProcessInfo()

    def start(self, name: str) -> None:
        try:
            self.rpc.startProcess(name, False)
        except xmlrpc.client.Fault as fault:
            if "ALREADY_STARTED" not in fault.faultString:
                raise StackError(f"supervisord could not start {name}: {fault.faultString}") from fault

    def stop(self, name: str) -> None:
        try:
            self.rpc.stopProcess(name, True)
        except xmlrpc.client.Fault as fault:
            if "NOT_RUNNING" not in fault.faultString and "BAD_NAME" not in fault.faultString:
                raise

    def shutdown(self, timeout_s: float = 60) -> None:
        """Stop supervisord (after its programs) and wait until its process is gone."""
        pid = self.daemon_pid()
        with contextlib.suppress(OSError, xmlrpc.client.Fault, xmlrpc.client.ProtocolError):
            self.rpc.shutdown()
        deadline = time.monotonic() + timeout_s
        while pid and time.monotonic() < deadline:
            if not _pid_alive(pid):
                break
            time.sleep(0.1)

    def daemon_pid(self) -> int | None:
        try:
            return int(self.paths.pidfile.read_text().strip())
        except (OSError, ValueError):
            return None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
