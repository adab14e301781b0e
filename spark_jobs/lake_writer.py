"""Exactly-once Parquet output as a crawler sees it: deterministic object names per (stream, batch id).

Spark's file sink names part files with a random job UUID and relies on ``_spark_metadata`` to hide the files
of a batch that failed half-way; Glue crawlers and Athena list every object under a prefix and would read
those leftovers as duplicates. Here each micro-batch is written by Spark to a private staging prefix, then
every file is moved to a name derived only from the batch id, the date partition and its rank::

    <table>/date=2025-03-01/<batch_id:010d>-<rank:03d>.snappy.parquet

A retried batch (same id, same Kafka offsets, same rows) produces the same names and replaces its own
files, so the lake converges to exactly one copy of every row; nothing depends on ``_spark_metadata``.
One file per date partition per batch (one writing task), so larger batches make larger files.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pyspark.sql import DataFrame

from spark_jobs.hadoop_fs import HadoopFs

PARTITION_COLUMN = "date"
_PARTITION_DIR = re.compile(rf"/{PARTITION_COLUMN}=([^/]+)/([^/]+)$")


@dataclass(frozen=True)
class WrittenFile:
    uri: str
    size: int


def object_name(batch_id: int, rank: int, suffix: str) -> str:
    """The deterministic file name of the ``rank``-th file of ``batch_id`` in one partition."""
    return f"{batch_id:010d}-{rank:03d}{suffix}"


def _suffix(name: str) -> str:
    """``.snappy.parquet`` of ``part-00000-<uuid>.c000.snappy.parquet`` (codec and format extension)."""
    match = re.search(r"((\.[a-z0-9]+)?\.parquet)$", name)
    return match.group(1) if match else ".parquet"


def write_batch(df: DataFrame, fs: HadoopFs, table_uri: str, staging_uri: str, batch_id: int) -> list[WrittenFile]:
    """Write ``df`` (with a ``date`` column) under ``table_uri`` as this batch's files; return them."""
    stage = f"{staging_uri}/batch={batch_id}"
    fs.delete(stage)  # leftovers of an earlier attempt of this batch
    (
        # One task writes the batch: the partitioned writer then makes exactly one file per date, without the
        # shuffle a repartition by date would cost (batches are cached and sized by maxOffsetsPerTrigger).
        df.coalesce(1)
        .write.mode("overwrite")
        .option("maxRecordsPerFile", 0)  # one file per partition and batch: names stay deterministic
        .partitionBy(PARTITION_COLUMN)
        .parquet(stage)
    )
    by_partition: dict[str, list[str]] = {}
    for info in fs.list_files(stage):
        match = _PARTITION_DIR.search(info.uri)
        if match and info.uri.endswith(".parquet"):
            by_partition.setdefault(match.group(1), []).append(info.uri)
    written = []
    for partition, sources in sorted(by_partition.items()):
        for rank, source in enumerate(sorted(sources)):
            target = f"{table_uri}/{PARTITION_COLUMN}={partition}/{object_name(batch_id, rank, _suffix(source))}"
            fs.move(source, target)
            written.append(WrittenFile(target, fs.size(target)))
    fs.delete(stage)
    return written
