"""Find a block of free loopback ports for a second stack (tests, benchmarks) beside a user's own."""

from __future__ import annotations

import random

from smartcity.stack.services.base import port_is_free

# Port settings of the stack, and the offsets within a block. SeaweedFS also listens on each of its
# ports + 10000 (gRPC), so a block is checked at both.
PORT_LAYOUT = {
    "SMARTCITY_KAFKA_PORT": 0,
    "SMARTCITY_KAFKA_CONTROLLER_PORT": 1,
    "SMARTCITY_S3_PORT": 2,
    "SMARTCITY_SEAWEED_MASTER_PORT": 3,
    "SMARTCITY_SEAWEED_VOLUME_PORT": 4,
    "SMARTCITY_SEAWEED_FILER_PORT": 5,
    "SMARTCITY_SEAWEED_ADMIN_PORT": 6,
    "SMARTCITY_STANDIN_PORT": 7,
    "SMARTCITY_AIRFLOW_PORT": 8,
    "SMARTCITY_SPARK_MASTER_PORT": 9,
    "SMARTCITY_SPARK_MASTER_WEBUI_PORT": 10,
    "SMARTCITY_SPARK_WORKER_WEBUI_PORT": 11,
}
BLOCK = 16


def free_port_block(low: int = 20000, high: int = 30000, attempts: int = 200) -> dict[str, str]:
    """Environment variables giving every stack port a free value (and value + 10000 free too)."""
    rng = random.Random()
    for _ in range(attempts):
        base = rng.randrange(low, high - BLOCK)
        ports = range(base, base + BLOCK)
        if all(port_is_free(p) and port_is_free(p + 10000) for p in ports):
            return {name: str(base + offset) for name, offset in PORT_LAYOUT.items()}
    raise RuntimeError(f"no free block of {BLOCK} ports between {low} and {high}")
