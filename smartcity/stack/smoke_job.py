"""Smoke Spark job: copy one Kafka topic to Parquet on S3, then stop (availableNow trigger).

Usage:
    spark-submit smartcity/stack/smoke_job.py <bootstrap> <topic> <s3a://bucket/prefix> <checkpoint-dir>

Jars, the s3a endpoint and the credentials come from the stack's SPARK_CONF_DIR and AWS_* variables;
Kafka's credentials from the SMARTCITY_KAFKA_* variables (never from the command line, which ``ps`` shows).
"""

from __future__ import annotations

import os
import sys

# spark-submit runs this file as a script, so its own directory (smartcity/stack/, which holds a secrets.py)
# would come first on sys.path and shadow the standard library's `secrets`; the package is imported by name.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [entry for entry in sys.path if os.path.abspath(entry or os.curdir) != _HERE]

from pyspark.sql import SparkSession  # noqa: E402
from pyspark.sql import functions as F  # noqa: E402

from smartcity.kafka_client import spark_kafka_options  # noqa: E402


def main(argv: list[str]) -> int:
    if len(argv) != 4:
        print(__doc__, file=sys.stderr)
        return 2
    bootstrap, topic, output, checkpoint = argv
    spark = SparkSession.builder.appName("smartcity-smoke").getOrCreate()
    source = (
        spark.readStream.format("kafka")
        .option("kafka.bootstrap.servers", bootstrap)
        .option("subscribe", topic)
        .option("startingOffsets", "earliest")
        .options(**spark_kafka_options())
        .load()
    )
    rows = source.select(
        F.col("key").cast("string").alias("key"),
        F.col("value").cast("string").alias("value"),
        "partition",
        "offset",
        F.col("timestamp").alias("kafka_time"),
    )
    query = (
        rows.writeStream.format("parquet")
        .option("path", output)
        .option("checkpointLocation", checkpoint)
        .trigger(availableNow=True)
        .start()
    )
    query.awaitTermination()
    spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
