"""What the stack needs to know about a service it supervises.

Adding a service to the embedded stack means writing one subclass of
``Service`` (its command, ports, readiness probe, and any files it needs before
start) and listing it in ``smartcity.stack.services.ALL``.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass, field
from pathlib import Path

from smartcity.settings import LOOPBACK, Settings
from smartcity.stack.secrets import StackSecrets


@dataclass(frozen=True)
class Port:
    label: str
    number: int
    setting: str  # the SMARTCITY_* variable that changes it

    @property
    def published(self) -> bool:
        """Ports a user talks to (shown by status); internal ones are still checked for conflicts."""
        return not self.label.endswith("(internal)")


@dataclass
class StackContext:
    """Everything a service needs to render its command and files."""

    settings: Settings
    secrets: StackSecrets
    env: dict[str, str] = field(default_factory=dict)  # the `stack env` variables

    def service_dir(self, name: str) -> Path:
        path = self.settings.data_dir / name
        path.mkdir(parents=True, exist_ok=True)
        return path


class Service:
    """A long-running process of the embedded stack."""

    name: str = ""
    description: str = ""
    stop_wait_s: int = 20

    def enabled(self, settings: Settings) -> bool:
        return True

    def ports(self, settings: Settings) -> list[Port]:
        raise NotImplementedError

    def prepare(self, ctx: StackContext) -> None:
        """Write config files / format storage before the first start. Must be idempotent."""

    def command(self, ctx: StackContext) -> list[str]:
        raise NotImplementedError

    def environment(self, ctx: StackContext) -> dict[str, str]:
        return dict(ctx.env)

    def working_dir(self, ctx: StackContext) -> Path:
        return ctx.service_dir(self.name)

    def is_ready(self, ctx: StackContext) -> bool:
        """A real readiness probe (a protocol request, not just an open port)."""
        raise NotImplementedError

    def after_ready(self, ctx: StackContext) -> None:
        """One-off work once the service answers (e.g. create buckets). Must be idempotent."""


def port_is_listening(port: int, host: str = LOOPBACK, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def port_is_free(port: int, host: str = LOOPBACK) -> bool:
    """True if nothing listens on ``host:port`` (we try to bind it, as the service would)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True
