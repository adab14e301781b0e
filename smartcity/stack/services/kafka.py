"""Apache Kafka 4.x, single node in KRaft mode (broker and controller in one JVM).

Clients must authenticate: the client listener is SASL_PLAINTEXT with
SCRAM-SHA-512 only, for the user generated at first start (its credential is
bootstrapped into the metadata log when the storage is formatted). The
controller listener stays PLAINTEXT because KRaft cannot check SCRAM there (the
credentials live in the metadata it serves); it is bound to 127.0.0.1 only and
is used by this node talking to itself. A data directory formatted before
authentication existed gets the credential added at its next start
(``_add_missing_scram_user``).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from smartcity.settings import LOOPBACK, Settings
from smartcity.stack import jars
from smartcity.stack.errors import StackError
from smartcity.stack.secrets import StackSecrets, write_private
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

MECHANISM = "SCRAM-SHA-512"
SCRAM_MARKER = "scram-user"  # written next to the data once the generated user's credential is in the metadata


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

    def server_properties(
        self, settings: Settings, data_dir: Path, secrets: StackSecrets, upgrading: bool = False
    ) -> str:
        broker, controller = settings.kafka_port, settings.kafka_controller_port
        jaas = (
            "org.apache.kafka.common.security.scram.ScramLoginModule required "
            f'username="{secrets.kafka_username}" password="{secrets.kafka_password}";'
        )
        props = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.bootstrap.servers": f"{LOOPBACK}:{controller}",
            "listeners": f"SASL_PLAINTEXT://{LOOPBACK}:{broker},CONTROLLER://{LOOPBACK}:{controller}",
            "advertised.listeners": f"SASL_PLAINTEXT://{LOOPBACK}:{broker},CONTROLLER://{LOOPBACK}:{controller}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "SASL_PLAINTEXT",
            "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT",
            "sasl.enabled.mechanisms": MECHANISM,
            "sasl.mechanism.inter.broker.protocol": MECHANISM,
            f"listener.name.sasl_plaintext.{MECHANISM.lower()}.sasl.jaas.config": jaas,
            **(self._upgrade_properties(secrets) if upgrading else {}),
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

    @staticmethod
    def _upgrade_properties(secrets: StackSecrets) -> dict[str, str]:
        """PLAIN for the generated user, on a data directory that has no SCRAM credential yet (one start)."""
        plain = (
            "org.apache.kafka.common.security.plain.PlainLoginModule required "
            f'user_{secrets.kafka_username}="{secrets.kafka_password}";'
        )
        return {
            "sasl.enabled.mechanisms": f"{MECHANISM},PLAIN",
            "listener.name.sasl_plaintext.plain.sasl.jaas.config": plain,
        }

    def _java(self, ctx: StackContext, *args: str) -> list[str]:
        _, log4j, _ = self._files(ctx)
        classpath = str(jars.jar_dir(ctx.settings.jars_dir, jars.KAFKA_BROKER) / "*")
        return ["java", f"-Dlog4j2.configurationFile={log4j}", "-cp", classpath, *args]

    def prepare(self, ctx: StackContext) -> None:
        jars.resolve(ctx.settings.jars_dir, jars.KAFKA_BROKER)
        server, log4j, data = self._files(ctx)
        upgrading = (data / "meta.properties").exists() and not self._scram_ready(ctx)
        # 0600: it holds the password.
        write_private(server, self.server_properties(ctx.settings, data, ctx.secrets, upgrading))
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
        # The tool takes the credential on its command line only; it runs for a second, before any client exists.
        scram = f"{MECHANISM}=[name={ctx.secrets.kafka_username},password={ctx.secrets.kafka_password}]"
        fmt = subprocess.run(
            self._java(
                ctx,
                *("kafka.tools.StorageTool", "format", "-t", *cluster_id, "-c", str(server), "--standalone"),
                *("--add-scram", scram),
            ),
            capture_output=True,
            text=True,
            check=False,
        )
        if fmt.returncode != 0:
            output = (fmt.stdout + fmt.stderr).replace(ctx.secrets.kafka_password, "***")
            raise StackError(f"Formatting Kafka's storage in {data} failed:\n{output}")
        (data / SCRAM_MARKER).write_text(ctx.secrets.kafka_username + "\n")

    def command(self, ctx: StackContext) -> list[str]:
        server, _, _ = self._files(ctx)
        heap = ctx.settings.kafka_heap
        java = self._java(ctx, "kafka.Kafka", str(server))
        # Heap sized deliberately (the JVM default would take a quarter of the machine's memory).
        return [java[0], f"-Xms{heap}", f"-Xmx{heap}", "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20", *java[1:]]

    def _scram_ready(self, ctx: StackContext) -> bool:
        _, _, data = self._files(ctx)
        marker = data / SCRAM_MARKER
        return marker.exists() and marker.read_text().strip() == ctx.secrets.kafka_username

    def _add_missing_scram_user(self, ctx: StackContext) -> bool:
        """Upgrade path: store the generated user's SCRAM credential, logging in with PLAIN (same password).

        The admin API that writes SCRAM credentials is not served to clients on the controller listener, and
        no SCRAM credential exists yet to log in with; so for this one start (the marker is missing) the
        client listener also accepts PLAIN for the generated user only (``server_properties``).
        """
        from confluent_kafka import KafkaException
        from confluent_kafka.admin import (
            AdminClient,
            ScramCredentialInfo,
            ScramMechanism,
            UserScramCredentialUpsertion,
        )

        _, _, data = self._files(ctx)
        admin = AdminClient({**self._client_config(ctx), "sasl.mechanism": "PLAIN"})
        upsert = UserScramCredentialUpsertion(
            ctx.secrets.kafka_username,
            ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 8192),
            ctx.secrets.kafka_password.encode(),
        )
        try:
            for future in admin.alter_user_scram_credentials([upsert], request_timeout=10).values():
                future.result()
        except KafkaException:
            return False  # the broker is still starting: the readiness loop asks again (then times out clearly)
        (data / SCRAM_MARKER).write_text(ctx.secrets.kafka_username + "\n")
        return True

    def _client_config(self, ctx: StackContext) -> dict[str, str | int]:
        return {
            "bootstrap.servers": f"{LOOPBACK}:{ctx.settings.kafka_port}",
            "security.protocol": "sasl_plaintext",
            "sasl.mechanism": MECHANISM,
            "sasl.username": ctx.secrets.kafka_username,
            "sasl.password": ctx.secrets.kafka_password,
            "log_level": 0,
        }

    def is_ready(self, ctx: StackContext) -> bool:
        if not port_is_listening(ctx.settings.kafka_port):
            return False
        if not self._scram_ready(ctx) and not self._add_missing_scram_user(ctx):
            return False
        from confluent_kafka.admin import AdminClient

        admin = AdminClient(self._client_config(ctx))
        try:
            metadata = admin.list_topics(timeout=2)
        except Exception:
            return False
        return bool(metadata.brokers)
