"""What the job does with one micro-batch of one stream (the ``foreachBatch`` function).

1. classify every row: contract reject reason, ``late``, ``duplicate`` or ``valid`` (:mod:`spark_jobs.dedupe`);
2. write valid rows to ``<lake>/data/<stream>/date=<event date>/`` and rejects to
   ``<lake>/quarantine/<stream>/date=<Kafka timestamp date>/`` under deterministic names
   (:mod:`spark_jobs.lake_writer`);
3. save the dedupe state of this batch; 4. report the counts.

Everything is a function of the batch's rows and the previous batch's state, so a batch Spark retries after
a crash writes the same objects again. Spark commits the batch's offsets only after this returns.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from smartcity.contracts.model import RecordContract
from spark_jobs.contract_schema import REJECTIONS
from spark_jobs.dedupe import (
    DETAIL,
    DUPLICATE,
    EVENT_TIME,
    OUTCOME,
    VALID,
    StateStore,
    classify,
)
from spark_jobs.dedupe import OFFSET as KAFKA_OFFSET
from spark_jobs.dedupe import PARTITION as KAFKA_PARTITION
from spark_jobs.hadoop_fs import HadoopFs
from spark_jobs.lake_writer import PARTITION_COLUMN, write_batch
from spark_jobs.metrics import BatchStats

# Kafka metadata columns of the parsed stream (underscored: a contract may have a field called "topic").
VALUE, TOPIC, KAFKA_TIMESTAMP = "_value", "_topic", "_kafka_ts"


@dataclass(frozen=True)
class StreamPaths:
    """Where one stream's outputs and state live."""

    data: str  # <lake>/data/<stream>
    quarantine: str  # <lake>/quarantine/<stream>
    staging: str  # <lake>/_staging/<stream>: Spark's own output before the deterministic move
    checkpoint: str  # Spark's checkpoint of the query
    state: str  # dedupe state, beside the checkpoint

    @classmethod
    def of(cls, lake: str, checkpoint_root: str, stream: str, staging_root: str | None = None) -> StreamPaths:
        lake = lake.rstrip("/")
        checkpoint_root = checkpoint_root.rstrip("/")
        staging = (staging_root or f"{lake}/_staging").rstrip("/")
        return cls(
            data=f"{lake}/data/{stream}",
            quarantine=f"{lake}/quarantine/{stream}",
            staging=f"{staging}/{stream}",
            checkpoint=f"{checkpoint_root}/{stream}/spark",
            state=f"{checkpoint_root}/{stream}/dedupe",
        )


def _details(rejections: str) -> F.Column:
    """``field: detail; field: detail`` of every contract rejection of a row."""
    parts = F.transform(
        F.col(rejections), lambda r: F.concat(F.coalesce(r["field"], F.lit("record")), F.lit(": "), r["detail"])
    )
    return F.array_join(parts, "; ")


class BatchWriter:
    """The ``foreachBatch`` callable of one stream's query."""

    def __init__(
        self,
        spark: SparkSession,
        contract: RecordContract,
        paths: StreamPaths,
        watermark_delay: timedelta,
        report: Callable[[BatchStats], None],
    ) -> None:
        self._contract = contract
        self._paths = paths
        self._fs = HadoopFs(spark)
        self._state = StateStore(spark, self._fs, paths.state, watermark_delay)
        self._report = report

    def __call__(self, batch: DataFrame, batch_id: int) -> None:
        started = time.monotonic()
        phases: dict[str, float] = {}
        mark = started

        def lap(phase: str) -> None:
            nonlocal mark
            now = time.monotonic()
            phases[phase] = round(now - mark, 3)
            mark = now

        state = self._state.load(batch_id)
        reason = F.get(F.col(REJECTIONS), 0)["reason"]
        classified = classify(batch, state, self._state.ids(state), reason, rejects_only=(VALUE,)).persist(
            StorageLevel.MEMORY_AND_DISK
        )
        try:
            outcomes = (
                classified.groupBy(OUTCOME)
                .agg(F.count(F.lit(1)).alias("rows"), F.unix_micros(F.max(EVENT_TIME)).alias("max_us"))
                .collect()
            )
            counts = {row[OUTCOME]: row["rows"] for row in outcomes}
            batch_max_us = next((row["max_us"] for row in outcomes if row[OUTCOME] == VALID), None)
            rejected = {k: v for k, v in counts.items() if k not in (VALID, DUPLICATE)}
            lap("classify")
            data_files = quarantine_files = []
            if counts.get(VALID):
                data_files = write_batch(
                    self._valid_rows(classified), self._fs, self._paths.data, f"{self._paths.staging}/data", batch_id
                )
                lap("write_data")
            if rejected:
                quarantine_files = write_batch(
                    self._rejected_rows(classified, batch_id),
                    self._fs,
                    self._paths.quarantine,
                    f"{self._paths.staging}/quarantine",
                    batch_id,
                )
                lap("write_quarantine")
            if counts.get(VALID):
                self._state.save(batch_id, state, classified.filter(F.col(OUTCOME) == VALID), batch_max_us)
                lap("save_state")
        finally:
            classified.unpersist()
        self._report(
            BatchStats(
                stream=self._contract.stream,
                batch_id=batch_id,
                rows=sum(counts.values()),
                valid=counts.get(VALID, 0),
                duplicates=counts.get(DUPLICATE, 0),
                quarantined=rejected,
                data_files=tuple(data_files),
                quarantine_files=tuple(quarantine_files),
                watermark=state.watermark.isoformat() if state.watermark else None,
                seconds=time.monotonic() - started,
                phases=phases,
            )
        )

    def _valid_rows(self, classified: DataFrame) -> DataFrame:
        return classified.filter(F.col(OUTCOME) == VALID).select(
            *self._contract.field_names, F.date_format(EVENT_TIME, "yyyy-MM-dd").alias(PARTITION_COLUMN)
        )

    @staticmethod
    def _rejected_rows(classified: DataFrame, batch_id: int) -> DataFrame:
        return classified.filter(~F.col(OUTCOME).isin(VALID, DUPLICATE)).select(
            F.col(OUTCOME).alias("reason"),
            F.get(F.col(REJECTIONS), 0)["field"].alias("field"),
            F.coalesce(F.col(DETAIL), _details(REJECTIONS)).alias("detail"),
            F.col(VALUE).alias("raw"),
            F.col(TOPIC).alias("topic"),
            F.col(KAFKA_PARTITION).alias("kafka_partition"),
            F.col(KAFKA_OFFSET).alias("kafka_offset"),
            F.col(KAFKA_TIMESTAMP).alias("kafka_timestamp"),
            F.col("event_id"),
            F.col(EVENT_TIME),
            F.lit(batch_id).cast("long").alias("batch_id"),
            F.date_format(KAFKA_TIMESTAMP, "yyyy-MM-dd").alias(PARTITION_COLUMN),
        )
