"""The Spark configuration the stack hands to ``spark-submit`` (SPARK_CONF_DIR).

Jobs carry no jars, hosts or keys: ``spark-defaults.conf`` names the connector
jars resolved from Maven Central and the s3a endpoint; S3 credentials reach
Spark through the standard AWS_* environment variables, which S3A's default
credential chain reads (on AWS the same chain finds the instance role).
"""

from __future__ import annotations

from pathlib import Path

import pyspark

from smartcity.settings import LOOPBACK, Settings
from smartcity.stack import jars


def spark_home() -> Path:
    return Path(pyspark.__file__).parent


def spark_master_url(settings: Settings) -> str:
    if settings.spark_mode == "standalone":
        return f"spark://{LOOPBACK}:{settings.spark_master_port}"
    return f"local[{settings.spark_local_cores}]"


def spark_defaults(settings: Settings) -> dict[str, str]:
    connector_jars = jars.jars(settings.jars_dir, jars.SPARK_CONNECTORS)
    s3_endpoint = settings.s3_endpoint or ""
    return {
        "spark.master": spark_master_url(settings),
        "spark.jars": ",".join(str(j) for j in connector_jars),
        "spark.driver.host": LOOPBACK,
        "spark.driver.bindAddress": LOOPBACK,
        "spark.driver.memory": "2g",
        "spark.ui.showConsoleProgress": "false",
        # 2 cores: a few shuffle/state partitions instead of 200 tiny ones.
        "spark.sql.shuffle.partitions": "4",
        "spark.sql.session.timeZone": "UTC",
        # INT96 timestamps (Spark's default) read badly in Athena/DuckDB.
        "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
        "spark.hadoop.fs.s3a.endpoint": s3_endpoint,
        "spark.hadoop.fs.s3a.endpoint.region": settings.aws_region,
        "spark.hadoop.fs.s3a.path.style.access": "true",
        # Plain HTTP only towards a local http:// endpoint; anything else (AWS) keeps TLS.
        "spark.hadoop.fs.s3a.connection.ssl.enabled": str(
            (settings.s3_endpoint or "https").startswith("https")
        ).lower(),
    }


def write_conf_dir(settings: Settings) -> Path:
    """Write spark-defaults.conf, spark-env.sh and a quiet log4j2 config; return the folder."""
    conf_dir = settings.spark_conf_dir
    conf_dir.mkdir(parents=True, exist_ok=True)
    defaults = spark_defaults(settings)
    width = max(len(k) for k in defaults) + 2
    (conf_dir / "spark-defaults.conf").write_text(
        "# Written by `smartcity stack up`; edits are overwritten.\n"
        + "".join(f"{k.ljust(width)}{v}\n" for k, v in defaults.items())
    )
    (conf_dir / "spark-env.sh").write_text(
        "# Written by `smartcity stack up`. Keep every Spark socket (driver, UI, block manager) on loopback.\n"
        f"export SPARK_LOCAL_IP={LOOPBACK}\n"
    )
    (conf_dir / "log4j2.properties").write_text(
        "rootLogger.level = warn\nrootLogger.appenderRef.stdout.ref = console\n"
        "appender.console.type = Console\nappender.console.name = console\n"
        "appender.console.target = SYSTEM_ERR\nappender.console.layout.type = PatternLayout\n"
        "appender.console.layout.pattern = %d{HH:mm:ss.SSS} %p %c{1}: %m%n%ex\n"
        "logger.streaming.name = org.apache.spark.sql.execution.streaming\nlogger.streaming.level = warn\n"
    )
    return conf_dir
