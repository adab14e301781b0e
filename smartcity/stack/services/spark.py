"""Spark standalone master and worker (only with SMARTCITY_SPARK_MODE=standalone).

Local mode is the default: on 2 cores, spark-submit's own local[2] driver does
the work without two more JVMs (master, worker) holding memory and competing
for the CPU. Standalone mode mirrors a cluster (the compose file's master and
workers) for users who want to see that topology.
"""

from __future__ import annotations

import urllib.request

from smartcity.settings import LOOPBACK, Settings
from smartcity.stack.services.base import Port, Service, StackContext
from smartcity.stack.spark_conf import spark_home, spark_master_url


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


class _StandaloneDaemon(Service):
    """A Spark standalone daemon kept in the foreground (so supervisor owns it) and on loopback."""

    def enabled(self, settings: Settings) -> bool:
        return settings.spark_mode == "standalone"

    def environment(self, ctx: StackContext) -> dict[str, str]:
        return {**ctx.env, "SPARK_LOCAL_IP": LOOPBACK, "SPARK_NO_DAEMONIZE": "1"}


class SparkMaster(_StandaloneDaemon):
    name = "spark-master"
    description = "Spark standalone master"

    def ports(self, settings: Settings) -> list[Port]:
        return [
            Port("master", settings.spark_master_port, "SMARTCITY_SPARK_MASTER_PORT"),
            Port("web ui", settings.spark_master_webui_port, "SMARTCITY_SPARK_MASTER_WEBUI_PORT"),
        ]

    def command(self, ctx: StackContext) -> list[str]:
        st = ctx.settings
        return [
            str(spark_home() / "bin" / "spark-class"),
            "org.apache.spark.deploy.master.Master",
            "--host",
            LOOPBACK,
            "--port",
            str(st.spark_master_port),
            "--webui-port",
            str(st.spark_master_webui_port),
        ]

    def is_ready(self, ctx: StackContext) -> bool:
        return _http_ok(f"http://{LOOPBACK}:{ctx.settings.spark_master_webui_port}/json/")


class SparkWorker(_StandaloneDaemon):
    name = "spark-worker"
    description = "Spark standalone worker"

    def ports(self, settings: Settings) -> list[Port]:
        return [Port("web ui", settings.spark_worker_webui_port, "SMARTCITY_SPARK_WORKER_WEBUI_PORT")]

    def command(self, ctx: StackContext) -> list[str]:
        st = ctx.settings
        return [
            str(spark_home() / "bin" / "spark-class"),
            "org.apache.spark.deploy.worker.Worker",
            "--host",
            LOOPBACK,
            "--cores",
            str(st.spark_local_cores),
            "--memory",
            st.spark_worker_memory,
            "--webui-port",
            str(st.spark_worker_webui_port),
            "--work-dir",
            str(ctx.service_dir(self.name) / "work"),
            spark_master_url(st),
        ]

    def is_ready(self, ctx: StackContext) -> bool:
        return _http_ok(f"http://{LOOPBACK}:{ctx.settings.spark_worker_webui_port}/json/")
