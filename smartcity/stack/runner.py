"""Bring the embedded stack up and down, and report on it.

The order of work in ``up``: secrets → jars → per-service files → supervisord
config → for each service in order: port check, start, readiness probe (with a
timeout; a service that dies shows the tail of its log) → after-ready hooks
(buckets). ``up`` is idempotent: running services are left alone.
"""

from __future__ import annotations

import os
import shutil
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from smartcity.settings import LOOPBACK, Settings
from smartcity.stack import jars, secrets
from smartcity.stack.environment import stack_env
from smartcity.stack.errors import StackError
from smartcity.stack.services import ALL, Service, StackContext
from smartcity.stack.services.base import port_is_free
from smartcity.stack.spark_conf import write_conf_dir
from smartcity.stack.supervisor import Supervisor, SupervisorPaths, render_config

Progress = Callable[[str], None]

_DEAD_STATES = {"EXITED", "FATAL", "BACKOFF", "STOPPED", "UNKNOWN"}


@dataclass
class ServiceStatus:
    name: str
    description: str
    state: str
    pid: int | None
    ports: dict[str, int]
    healthy: bool
    uptime_s: int | None
    log: str

    def as_dict(self) -> dict:
        return self.__dict__.copy()


def tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log yet)"


class Stack:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.paths = SupervisorPaths(run_dir=settings.data_dir / "run", logs_dir=settings.logs_dir)

    # --- helpers --------------------------------------------------------------------
    def services(self) -> list[Service]:
        return [s for s in ALL if s.enabled(self.settings)]

    def service(self, name: str) -> Service:
        for s in ALL:
            if s.name == name:
                return s
        known = ", ".join(s.name for s in ALL)
        raise StackError(f"Unknown service {name!r}; the stack has: {known}")

    def _context(self, stack_secrets: secrets.StackSecrets) -> StackContext:
        return StackContext(self.settings, stack_secrets, stack_env(self.settings, stack_secrets))

    def _supervisor(self, stack_secrets: secrets.StackSecrets | None = None) -> Supervisor | None:
        stack_secrets = stack_secrets or secrets.load(self.settings.secrets_file)
        if stack_secrets is None:
            return None
        return Supervisor(self.paths, stack_secrets.supervisor_password)

    # --- commands ---------------------------------------------------------------------
    def setup(self, progress: Progress = lambda _: None) -> None:
        """Fetch what the stack needs once: the JVM jars (Maven Central, cached)."""
        for jar_set in jars.JAR_SETS:
            if not jars.is_resolved(self.settings.jars_dir, jar_set):
                progress(f"resolving {jar_set.name} jars from Maven Central")
            jars.resolve(self.settings.jars_dir, jar_set)

    def up(self, progress: Progress = lambda _: None) -> dict[str, float]:
        """Start every enabled service that is not running; return seconds taken per service."""
        if shutil.which("java") is None:
            raise StackError("Java is not on PATH; Kafka and Spark need Java 17 (Debian: openjdk-17-jre-headless).")
        self.settings.data_dir.mkdir(parents=True, exist_ok=True)
        stack_secrets = secrets.ensure(self.settings.secrets_file)
        self.setup(progress)
        ctx = self._context(stack_secrets)
        write_conf_dir(self.settings)
        services = self.services()
        supervisor = Supervisor(self.paths, stack_secrets.supervisor_password)
        running = supervisor.is_running()
        states = {i["name"]: i["statename"] for i in supervisor.all_info()} if running else {}
        for service in services:
            if states.get(service.name) != "RUNNING":
                service.prepare(ctx)
        supervisor.write_config(render_config(self.paths, ctx, services))
        if running:
            supervisor.reload()
        else:
            supervisor.start_daemon()
        timings: dict[str, float] = {}
        for service in services:
            if states.get(service.name) == "RUNNING" and service.is_ready(ctx):
                timings[service.name] = 0.0
                service.after_ready(ctx)
                continue
            progress(f"starting {service.name}")
            started = time.monotonic()
            self._check_ports_free(service)
            supervisor.start(service.name)
            self._wait_ready(supervisor, service, ctx)
            service.after_ready(ctx)
            timings[service.name] = time.monotonic() - started
            progress(f"{service.name} ready in {timings[service.name]:.1f} s")
        return timings

    def _check_ports_free(self, service: Service) -> None:
        for port in service.ports(self.settings):
            if not port_is_free(port.number):
                raise StackError(
                    f"Port {port.number} on {LOOPBACK} ({service.name} {port.label}) is already in use by "
                    f"another program. Stop that program, or choose another port: export {port.setting}=<port> "
                    "(and use the same value for every smartcity command)."
                )

    def _wait_ready(self, supervisor: Supervisor, service: Service, ctx: StackContext) -> None:
        deadline = time.monotonic() + self.settings.start_timeout_s
        log = self.paths.log(service.name)
        while time.monotonic() < deadline:
            state = supervisor.info(service.name)["statename"]
            if state in _DEAD_STATES:
                raise StackError(
                    f"{service.name} exited during start (state {state}). Last lines of {log}:\n{tail(log)}\n"
                    "If the data directory is damaged, `smartcity stack reset` starts from a clean one."
                )
            if service.is_ready(ctx):
                return
            time.sleep(0.25)
        supervisor.stop(service.name)
        raise StackError(
            f"{service.name} did not become ready within {self.settings.start_timeout_s:.0f} s "
            f"(raise SMARTCITY_START_TIMEOUT_S on a slow machine). Last lines of {log}:\n{tail(log)}"
        )

    def down(self, progress: Progress = lambda _: None) -> None:
        """Stop every service (reverse order), then supervisord; verify no port is left listening."""
        try:
            supervisor = self._supervisor()
        except StackError:
            # Unreadable secrets: we cannot log in to supervisord, but SIGTERM makes it stop its programs.
            self._terminate_supervisord_by_pidfile()
            return
        if supervisor is None or not supervisor.is_running():
            return
        names = {i["name"] for i in supervisor.all_info()}
        for service in reversed(ALL):
            if service.name in names:
                progress(f"stopping {service.name}")
                supervisor.stop(service.name)
        supervisor.shutdown()
        busy = [
            f"{p.number} ({s.name} {p.label})"
            for s in self.services()
            for p in s.ports(self.settings)
            if not port_is_free(p.number)
        ]
        if busy:
            raise StackError("After stopping, these ports still listen: " + ", ".join(busy))

    def _terminate_supervisord_by_pidfile(self, timeout_s: float = 60) -> None:
        try:
            pid = int(self.paths.pidfile.read_text().strip())
            os.kill(pid, signal.SIGTERM)
        except (OSError, ValueError):
            return
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.1)

    def status(self) -> list[ServiceStatus]:
        stack_secrets = secrets.load(self.settings.secrets_file)
        supervisor = self._supervisor(stack_secrets)
        infos = {}
        if supervisor is not None and supervisor.is_running():
            infos = {i["name"]: i for i in supervisor.all_info()}
        ctx = self._context(stack_secrets) if stack_secrets else None
        result = []
        for service in self.services():
            info = infos.get(service.name, {})
            state = info.get("statename", "STOPPED")
            healthy = bool(ctx and state == "RUNNING" and service.is_ready(ctx))
            uptime = int(info["now"] - info["start"]) if state == "RUNNING" else None
            result.append(
                ServiceStatus(
                    name=service.name,
                    description=service.description,
                    state=state,
                    pid=info.get("pid") or None,
                    ports={p.label: p.number for p in service.ports(self.settings) if p.published},
                    healthy=healthy,
                    uptime_s=uptime,
                    log=str(self.paths.log(service.name)),
                )
            )
        return result

    def log_path(self, name: str) -> Path:
        self.service(name)
        return self.paths.log(name)

    def reset(self) -> None:
        """Stop everything and delete the data directory (the jar cache is kept)."""
        self.down()
        data_dir = self.settings.data_dir.resolve()
        if data_dir in {Path("/"), Path.home().resolve()} or len(data_dir.parts) < 3:
            raise StackError(f"Refusing to delete {data_dir}: SMARTCITY_DATA_DIR looks wrong.")
        shutil.rmtree(data_dir, ignore_errors=True)

    def env(self) -> dict[str, str]:
        stack_secrets = secrets.load(self.settings.secrets_file)
        if stack_secrets is None:
            raise StackError("The stack has never been started here: run `smartcity stack up` first.")
        return stack_env(self.settings, stack_secrets)


def python_bin_dir() -> Path:
    return Path(sys.executable).parent
