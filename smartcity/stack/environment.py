"""The environment variables that point standard tools (and this project) at the local stack.

``smartcity stack env`` prints them as export lines; supervised services get
them too; ``smartcity.settings.Settings`` reads the very same names.
"""

from __future__ import annotations

import sys
from pathlib import Path

from smartcity.settings import LOOPBACK, Settings
from smartcity.stack.secrets import StackSecrets
from smartcity.stack.services.airflow import airflow_stack_env
from smartcity.stack.spark_conf import spark_home


def stack_env(settings: Settings, secrets: StackSecrets) -> dict[str, str]:
    standin = f"http://{LOOPBACK}:{settings.standin_port}"
    env = {
        "AWS_ACCESS_KEY_ID": secrets.s3_access_key,
        "AWS_SECRET_ACCESS_KEY": secrets.s3_secret_key,
        "AWS_DEFAULT_REGION": settings.aws_region,
        "AWS_ENDPOINT_URL_S3": f"http://{LOOPBACK}:{settings.s3_port}",
        "AWS_ENDPOINT_URL_GLUE": standin,
        "AWS_ENDPOINT_URL_ATHENA": standin,
        "AWS_ENDPOINT_URL_STS": standin,
        "KAFKA_BOOTSTRAP_SERVERS": f"{LOOPBACK}:{settings.kafka_port}",
        "SMARTCITY_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
        "SMARTCITY_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
        "SMARTCITY_KAFKA_USERNAME": secrets.kafka_username,
        "SMARTCITY_KAFKA_PASSWORD": secrets.kafka_password,
        "SPARK_HOME": str(spark_home()),
        "SPARK_CONF_DIR": str(settings.spark_conf_dir),
        "PYSPARK_PYTHON": sys.executable,
        "SPARK_LOCAL_IP": LOOPBACK,
        "SMARTCITY_DATA_DIR": str(settings.data_dir),
        "SMARTCITY_IMAGES_BUCKET": settings.images_bucket,
        "SMARTCITY_LAKE_BUCKET": settings.lake_bucket,
        "SMARTCITY_ATHENA_OUTPUT": settings.athena_output,
        "SMARTCITY_GLUE_DATABASE": settings.glue_database,
        **airflow_stack_env(settings, secrets),
    }
    # Non-default ports are part of how to reach this stack, so they travel with it.
    for name, field in Settings.model_fields.items():
        if name.endswith("_port") and getattr(settings, name) != field.default:
            env[f"SMARTCITY_{name.upper()}"] = str(getattr(settings, name))
    return env


def venv_bin() -> Path:
    return Path(sys.executable).parent


def export_lines(env: dict[str, str]) -> str:
    import shlex

    return "".join(f"export {key}={shlex.quote(value)}\n" for key, value in env.items())
