"""One settings object for the whole project.

Everything configurable is read from the environment, with the same names that
``smartcity stack env`` prints, so what a user exports is exactly what the code
reads. Standard AWS and Kafka variables keep their standard names (boto3, the AWS
CLI and Spark read them too); the project's own settings carry the ``SMARTCITY_``
prefix.

When the AWS credentials are not in the environment and the local stack has been
started once, they are taken from the stack's generated secrets file, so a user
in a fresh shell can run ``smartcity ...`` commands against the local stack
without exporting anything first.
"""

from __future__ import annotations

import json
from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent

LOOPBACK = "127.0.0.1"


class Settings(BaseSettings):
    """Project settings; see ``.env.example`` for every variable and its meaning."""

    model_config = SettingsConfigDict(env_prefix="SMARTCITY_", extra="ignore", populate_by_name=True)

    target: Literal["local", "aws"] = Field(
        default="local",
        description="local: unset endpoints and credentials fall back to the embedded stack; "
        "aws: only the standard AWS variables and the default credential chain are used",
    )

    # --- where local state lives -------------------------------------------------
    data_dir: Path = Field(default=PROJECT_ROOT / ".smartcity", description="local stack state (deletable)")
    cache_dir: Path = Field(default=PROJECT_ROOT / ".cache", description="resolved JVM jars (kept by reset)")

    # --- ports of the embedded stack (all bound to 127.0.0.1) -------------------
    kafka_port: int = 9092
    kafka_controller_port: int = 9093
    s3_port: int = 8333
    seaweed_master_port: int = 9333
    seaweed_volume_port: int = 9340
    seaweed_filer_port: int = 8888
    seaweed_admin_port: int = 23646
    standin_port: int = 4566
    airflow_port: int = 8080
    spark_master_port: int = 7077
    spark_master_webui_port: int = 8089
    spark_worker_webui_port: int = 8091

    # --- sizing -----------------------------------------------------------------
    kafka_heap: str = Field(default="512m", description="Kafka broker -Xms/-Xmx")
    spark_mode: Literal["local", "standalone"] = Field(
        default="local",
        description="local: spark-submit runs the job in local[N] (default on 2 cores: no master/worker JVMs "
        "competing for memory and CPU); standalone: the stack also runs a master and a worker",
    )
    spark_local_cores: int = 2
    spark_worker_memory: str = "2g"
    start_timeout_s: float = 90.0

    # --- names used by the pipeline ---------------------------------------------
    images_bucket: str = "urban-city-pipeline"
    lake_bucket: str = "urban-spark-streaming-data"
    athena_output: str = "s3://smartcity-athena-results/results/"
    glue_database: str = "smartcity"
    athena_workgroup: str = Field(default="smartcity", description="the Athena work group the pipeline queries in")

    # --- Airflow (filled in by the stack once Airflow has been started) ---------
    airflow_url: str | None = None
    airflow_user: str = "admin"
    airflow_password: str | None = None
    airflow_extra_dags_dir: Path | None = Field(
        default=None, description="a second DAG folder the local Airflow also parses (the test suite's DAGs)"
    )
    glue_crawler_role: str = Field(
        default="smartcity-glue-crawler", description="IAM role (name or ARN) the lake's Glue crawlers run as"
    )
    alert_sns_topic_arn: str | None = Field(
        default=None, description="pipeline alerts are also published to this SNS topic (besides the alerts log)"
    )
    alert_email: str | None = Field(
        default=None, description="pipeline alerts are also e-mailed here (Airflow's smtp_default connection)"
    )

    # --- standard variables, read under their standard names --------------------
    aws_access_key_id: str | None = Field(default=None, validation_alias=AliasChoices("AWS_ACCESS_KEY_ID"))
    aws_secret_access_key: str | None = Field(default=None, validation_alias=AliasChoices("AWS_SECRET_ACCESS_KEY"))
    aws_region: str = Field(default="us-east-1", validation_alias=AliasChoices("AWS_DEFAULT_REGION", "AWS_REGION"))
    aws_endpoint_url_s3: str | None = Field(default=None, validation_alias=AliasChoices("AWS_ENDPOINT_URL_S3"))
    aws_endpoint_url_glue: str | None = Field(default=None, validation_alias=AliasChoices("AWS_ENDPOINT_URL_GLUE"))
    aws_endpoint_url_athena: str | None = Field(default=None, validation_alias=AliasChoices("AWS_ENDPOINT_URL_ATHENA"))
    aws_endpoint_url_sts: str | None = Field(default=None, validation_alias=AliasChoices("AWS_ENDPOINT_URL_STS"))
    kafka_bootstrap_servers: str | None = Field(default=None, validation_alias=AliasChoices("KAFKA_BOOTSTRAP_SERVERS"))

    # --- Kafka client authentication (see smartcity.kafka_client) ---------------
    kafka_username: str | None = Field(default=None, description="SASL user (local: the stack's generated one)")
    kafka_password: str | None = Field(default=None, description="SASL password (local: the stack's generated one)")
    kafka_security_protocol: Literal["PLAINTEXT", "SASL_PLAINTEXT", "SASL_SSL", "SSL"] | None = Field(
        default=None, description="default: SASL_PLAINTEXT when a user/password is known, else PLAINTEXT"
    )
    kafka_sasl_mechanism: Literal["SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"] | None = Field(
        default=None, description="default: SCRAM-SHA-512"
    )

    @field_validator(
        "kafka_username", "kafka_password", "kafka_security_protocol", "kafka_sasl_mechanism", mode="before"
    )
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        """``NAME=`` (as in a sourced .env.example) means unset, not an invalid empty value."""
        return None if value == "" else value

    # --- derived paths -------------------------------------------------------------
    @property
    def secrets_file(self) -> Path:
        return self.data_dir / "secrets" / "credentials.json"

    @property
    def logs_dir(self) -> Path:
        return self.data_dir / "logs"

    @property
    def spark_conf_dir(self) -> Path:
        return self.data_dir / "spark" / "conf"

    @property
    def spark_checkpoint_dir(self) -> Path:
        return self.data_dir / "spark" / "checkpoints"

    @property
    def jars_dir(self) -> Path:
        return self.cache_dir / "jars"

    # --- values with local-stack fallbacks -----------------------------------------
    @cached_property
    def _stack_secrets(self) -> dict[str, str]:
        try:
            return json.loads(self.secrets_file.read_text())
        except (OSError, ValueError):
            return {}

    @property
    def is_local(self) -> bool:
        return self.target == "local"

    def _local(self, value: str | None, fallback: str | None) -> str | None:
        """``value`` if set; otherwise the embedded stack's ``fallback`` when targeting it, else None."""
        if value:
            return value
        return fallback if self.is_local else None

    @property
    def access_key(self) -> str | None:
        return self._local(self.aws_access_key_id, self._stack_secrets.get("s3_access_key"))

    @property
    def secret_key(self) -> str | None:
        return self._local(self.aws_secret_access_key, self._stack_secrets.get("s3_secret_key"))

    @property
    def s3_endpoint(self) -> str | None:
        return self._local(self.aws_endpoint_url_s3, f"http://{LOOPBACK}:{self.s3_port}")

    @property
    def glue_endpoint(self) -> str | None:
        return self._local(self.aws_endpoint_url_glue, f"http://{LOOPBACK}:{self.standin_port}")

    @property
    def athena_endpoint(self) -> str | None:
        return self._local(self.aws_endpoint_url_athena, f"http://{LOOPBACK}:{self.standin_port}")

    @property
    def sts_endpoint(self) -> str | None:
        return self._local(self.aws_endpoint_url_sts, f"http://{LOOPBACK}:{self.standin_port}")

    @property
    def kafka_bootstrap(self) -> str:
        return self.kafka_bootstrap_servers or f"{LOOPBACK}:{self.kafka_port}"

    @property
    def kafka_user(self) -> str | None:
        return self._local(self.kafka_username, self._stack_secrets.get("kafka_username"))

    @property
    def kafka_secret(self) -> str | None:
        return self._local(self.kafka_password, self._stack_secrets.get("kafka_password"))

    @property
    def kafka_mechanism(self) -> str:
        return self.kafka_sasl_mechanism or "SCRAM-SHA-512"

    @property
    def kafka_protocol(self) -> str:
        if self.kafka_security_protocol:
            return self.kafka_security_protocol
        return "SASL_PLAINTEXT" if self.kafka_user and self.kafka_secret else "PLAINTEXT"

    @property
    def admin_password(self) -> str | None:
        return self.airflow_password or self._stack_secrets.get("airflow_password")

    @property
    def airflow_base_url(self) -> str:
        return self.airflow_url or f"http://{LOOPBACK}:{self.airflow_port}"

    def boto3_client(self, service: str):
        """A boto3 client for ``service`` pointed at the configured endpoint and credentials."""
        import boto3
        from botocore.config import Config

        endpoint = {
            "s3": self.s3_endpoint,
            "glue": self.glue_endpoint,
            "athena": self.athena_endpoint,
            "sts": self.sts_endpoint,
        }.get(service)
        config = Config(s3={"addressing_style": "path"}, retries={"mode": "standard", "max_attempts": 5})
        return boto3.client(
            service,
            endpoint_url=endpoint,
            region_name=self.aws_region,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            config=config,
        )


def get_settings() -> Settings:
    """Read the settings from the current environment (no caching: tests change the environment)."""
    return Settings()
