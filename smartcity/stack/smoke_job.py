"""Smoke Spark job: copy one Kafka topic to Parquet on S3, then stop (availableNow trigger).

Usage:
    spark-submit smartcity/stack/smoke_job.py <bootstrap> <topic> <s3a://bucket/prefix> <checkpoint-dir>

Jars, the s3a endpoint and the credentials come from the stack's SPARK_CONF_DIR and AWS_* variables.
"""

from __future__ import annotations

import sys

from pyspark.sql import SparkSession
from pyspark.sql import functions as F


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
