"""Kafka client configuration built from Settings, for every client in the project.

The embedded stack's broker only accepts SASL/SCRAM-SHA-512 on its client
listener, with a user and password generated at first start (the stack's
secrets file; ``smartcity stack env`` prints them as ``SMARTCITY_KAFKA_*``).
Other deployments (compose, MSK) configure theirs with the same variables; with
no credentials at all clients speak PLAINTEXT.

Secrets travel in process memory and the environment only: Spark jobs build
their options here, in the driver, from the environment (never from argv, which
``ps`` and logs show).
"""

from __future__ import annotations

from typing import Any

from smartcity.settings import Settings, get_settings


def security_config(settings: Settings | None = None) -> dict[str, str]:
    """librdkafka's security properties (empty for PLAINTEXT); merge into any client config."""
    settings = settings or get_settings()
    protocol = settings.kafka_protocol
    if protocol == "PLAINTEXT":
        return {}
    config = {"security.protocol": protocol.lower()}
    if protocol.startswith("SASL") and settings.kafka_user and settings.kafka_secret:
        config |= {
            "sasl.mechanism": settings.kafka_mechanism,
            "sasl.username": settings.kafka_user,
            "sasl.password": settings.kafka_secret,
        }
    return config


def confluent_config(settings: Settings | None = None, **extra: Any) -> dict[str, Any]:
    """A confluent-kafka Producer/Consumer/AdminClient config: bootstrap + security + ``extra``.

    librdkafka names contain dots, so pass extras as ``**{"linger.ms": 5}``.
    """
    settings = settings or get_settings()
    return {"bootstrap.servers": settings.kafka_bootstrap, **security_config(settings), **extra}


def _jaas_quote(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


def spark_kafka_options(settings: Settings | None = None) -> dict[str, str]:
    """Spark Kafka source/sink options (``kafka.``-prefixed Java client properties) for security."""
    settings = settings or get_settings()
    protocol = settings.kafka_protocol
    if protocol == "PLAINTEXT":
        return {}
    options = {"kafka.security.protocol": protocol}
    if protocol.startswith("SASL") and settings.kafka_user and settings.kafka_secret:
        module = (
            "org.apache.kafka.common.security.plain.PlainLoginModule"
            if settings.kafka_mechanism == "PLAIN"
            else "org.apache.kafka.common.security.scram.ScramLoginModule"
        )
        options |= {
            "kafka.sasl.mechanism": settings.kafka_mechanism,
            "kafka.sasl.jaas.config": (
                f'{module} required username="{_jaas_quote(settings.kafka_user)}" '
                f'password="{_jaas_quote(settings.kafka_secret)}";'
            ),
        }
    return options
