"""Tiny Spark application for the connections test DAG: count a range and print the result."""

import sys

from pyspark.sql import SparkSession

if __name__ == "__main__":
    spark = SparkSession.builder.appName("smartcity-test-count").getOrCreate()
    print(f"COUNTED {spark.range(int(sys.argv[1])).count()}")
    spark.stop()
