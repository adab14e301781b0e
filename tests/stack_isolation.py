"""Give a test stack an environment of its own.

Code under test reads its configuration from the environment (``smartcity stack env``'s variables), and
the session stack puts those variables into ``os.environ``. A second stack started inside the same pytest
process must not inherit them: with the session's ``AWS_ACCESS_KEY_ID`` or ``KAFKA_BOOTSTRAP_SERVERS`` in
the environment its Settings would talk to the session stack's services with the session's keys while its
own supervised services (a Spark worker's executors, say) use its own — a mix that fails only when the
session stack is running.
"""

from __future__ import annotations

import os

import pytest

from smartcity.stack.ports import free_port_block

# Prefixes and names of what ``smartcity.stack.environment.stack_env`` exports.
STACK_ENV_PREFIXES = ("AWS_", "SMARTCITY_", "KAFKA_", "SPARK_", "AIRFLOW_", "PYSPARK_")


def isolate_stack_environment(monkeypatch: pytest.MonkeyPatch, data_dir: str) -> dict[str, str]:
    """Drop every inherited stack variable, then point Settings at a new data dir and free ports."""
    for key in list(os.environ):
        if key.startswith(STACK_ENV_PREFIXES):
            monkeypatch.delenv(key)
    fresh = {"SMARTCITY_DATA_DIR": data_dir, **free_port_block()}
    for key, value in fresh.items():
        monkeypatch.setenv(key, value)
    return fresh
