"""Apache Kafka 4.x, single node in KRaft mode (broker and controller in one JVM)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from smartcity.settings import LOOPBACK, Settings
from smartcity.stack import jars
from smartcity.stack.errors import StackError
from smartcity.stack.services.base import Port, Service, StackContext, port_is_listening

LOG4J2 = """\
status = warn
appender.console.type = Console
appender.console.name = STDOUT
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRefs = stdout
rootLogger.appenderRef.stdout.ref = STDOUT
logger.kafka.name = kafka
logger.kafka.level = INFO
logger.state.name = state.change.logger
logger.state.level = WARN
"""


class Kafka(Service):
    name = "kafka"
    description = "Apache Kafka 4.1 broker + controller (KRaft)"
    stop_wait_s = 30

    def ports(self, settings: Settings) -> list[Port]:
        return [
            Port("broker", settings.kafka_port, "SMARTCITY_KAFKA_PORT"),
            Port("controller (internal)", settings.kafka_controller_port, "SMARTCITY_KAFKA_CONTROLLER_PORT"),
        ]

    def _files(self, ctx: StackContext) -> tuple[Path, Path, Path]:
        home = ctx.service_dir(self.name)
        return home / "server.properties", home / "log4j2.properties", home / "data"

    def server_properties(self, settings: Settings, data_dir: Path) -> str:
        broker, controller = settings.kafka_port, settings.kafka_controller_port
        props = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.bootstrap.servers": f"{LOOPBACK}:{controller}",
            "listeners": f"PLAINTEXT://{LOOPBACK}:{broker},CONTROLLER://{LOOPBACK}:{controller}",
            "advertised.listeners": f"PLAINTEXT://{LOOPBACK}:{broker},CONTROLLER://{LOOPBACK}:{controller}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
            "log.dirs": str(data_dir),
            "num.partitions": "3",
            "default.replication.factor": "1",
            "min.insync.replicas": "1",
            "offsets.topic.replication.factor": "1",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
            "group.initial.rebalance.delay.ms": "0",
            "auto.create.topics.enable": "false",
        }
        return "".join(f"{key}={value}\n" for key, value in props.items())

    def _java(self, ctx: StackContext, *args: str) -> list[str]:
        _, log4j, _ = self._files(ctx)
        classpath = str(jars.jar_dir(ctx.settings.jars_dir, jars.KAFKA_BROKER) / "*")
        return ["java", f"-Dlog4j2.configurationFile={log4j}", "-cp", classpath, *args]

    def prepare(self, ctx: StackContext) -> None:
        jars.resolve(ctx.settings.jars_dir, jars.KAFKA_BROKER)
        server, log4j, data = self._files(ctx)
        server.write_text(self.server_properties(ctx.settings, data))
        log4j.write_text(LOG4J2)
        if (data / "meta.properties").exists():
            return
        cluster_id = (
            subprocess.run(
                self._java(ctx, "kafka.tools.StorageTool", "random-uuid"),
                capture_output=True,
                text=True,
                check=False,
            )
            .stdout.strip()
            .splitlines()[-1:]
        )
        fmt = subprocess.run(
            self._java(ctx, "kafka.tools.StorageTool", "format", "-t", *cluster_id, "-c", str(server), "--standalone"),
            capture_output=True,
            text=True,
            check=False,
        )
        if fmt.returncode != 0:
            raise StackError(f"Formatting Kafka's storage in {data} failed:\n{fmt.stdout}{fmt.stderr}")

    def command(self, ctx: StackContext) -> list[str]:
        server, _, _ = self._files(ctx)
        heap = ctx.settings.kafka_heap
        java = self._java(ctx, "kafka.Kafka", str(server))
        # Heap sized deliberately (the JVM default would take a quarter of the machine's memory).
        return [java[0], f"-Xms{heap}", f"-Xmx{heap}", "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20", *java[1:]]

    def is_ready(self, ctx: StackContext) -> bool:
        if not port_is_listening(ctx.settings.kafka_port):
            return False
        from confluent_kafka.admin import AdminClient

        admin = AdminClient({"bootstrap.servers": f"{LOOPBACK}:{ctx.settings.kafka_port}", "log_level": 0})
        try:
            metadata = admin.list_topics(timeout=2)
        except Exception:
            return False
        return bool(metadata.brokers)
