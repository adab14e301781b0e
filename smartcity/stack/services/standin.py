"""The local Glue Data Catalog + crawler and Athena stand-in (``python -m smartcity.standin``)."""

from __future__ import annotations

import sys
import urllib.request

from smartcity.settings import LOOPBACK, Settings
from smartcity.stack.services.base import Port, Service, StackContext


class GlueAthenaStandin(Service):
    name = "standin"
    description = "Glue Data Catalog + crawler and Athena (local stand-in)"
    stop_wait_s = 15

    def ports(self, settings: Settings) -> list[Port]:
        return [Port("glue/athena/sts", settings.standin_port, "SMARTCITY_STANDIN_PORT")]

    def command(self, ctx: StackContext) -> list[str]:
        return [sys.executable, "-m", "smartcity.standin", "--host", LOOPBACK, "--port", str(ctx.settings.standin_port)]

    def is_ready(self, ctx: StackContext) -> bool:
        try:
            with urllib.request.urlopen(f"http://{LOOPBACK}:{ctx.settings.standin_port}/health", timeout=2) as r:
                return r.status == 200
        except OSError:
            return False
