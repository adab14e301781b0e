"""Event-time watermark and de-duplication by event id, decided per micro-batch with durable state.

Spark's ``withWatermark(...).dropDuplicatesWithinWatermark(...)`` drops records older than the watermark
without a trace; the contract wants them counted and kept in quarantine as ``late``. So the same semantics are
implemented here on the batch, with the state kept next to the query's checkpoint:

* the watermark of batch N is ``max(event_time of valid records in batches < N) - delay`` (Spark's rule:
  it moves between batches); within a batch a row is also judged against the newest valid event time
  before it in its Kafka partition minus the delay, so a late record is caught even in a job's first batch;
* a valid record with ``event_time`` older than its watermark is ``late``;
* a valid, timely record whose ``event_id`` was kept before (in the state, which holds the ids of kept
  records not older than the watermark) or earlier in the same batch (lowest Kafka partition/offset wins)
  is a ``duplicate``. A copy that arrives after its original left the state is older than the watermark by
  construction, so it is ``late``, never written twice.

State of batch N (``<state_dir>/batch=N`` Parquet + ``batch=N.json``) is derived only from state N-1 and the
rows of batch N, which Spark replays from the same offsets when it retries the batch: a retry decides
exactly as the first attempt did.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql.types import StringType, StructField, StructType, TimestampType

from smartcity.contracts.model import RejectReason
from spark_jobs.hadoop_fs import HadoopFs

EVENT_ID = "event_id"
EVENT_TIME = "event_time"
PARTITION = "_partition"  # Kafka partition and offset of the row: the order "first copy" is decided in
OFFSET = "_offset"
OUTCOME = "outcome"
DETAIL = "detail"
VALID = "valid"
DUPLICATE = "duplicate"
STATE_SCHEMA = StructType([StructField(EVENT_ID, StringType()), StructField(EVENT_TIME, TimestampType())])
_STATE_MARKER = re.compile(r"^batch=(\d+)\.json$")


@dataclass(frozen=True)
class DedupeState:
    """What batch N needs from the batches before it. Times are epoch microseconds (UTC instants)."""

    batch_id: int | None  # the batch that wrote it; None before the first batch with valid records
    max_event_time_us: int | None
    delay: timedelta

    @property
    def watermark_us(self) -> int | None:
        if self.max_event_time_us is None:
            return None
        return self.max_event_time_us - self.delay // timedelta(microseconds=1)

    @property
    def watermark(self) -> datetime | None:
        return None if self.watermark_us is None else micros_to_datetime(self.watermark_us)


def micros_to_datetime(micros: int) -> datetime:
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=micros)


class StateStore:
    """Per-stream dedupe state files under ``state_dir`` (the query's checkpoint directory)."""

    def __init__(self, spark: SparkSession, fs: HadoopFs, state_dir: str, delay: timedelta) -> None:
        self._spark, self._fs, self._dir, self._delay = spark, fs, state_dir, delay

    def _batches(self) -> list[int]:
        names = self._fs.list_names(self._dir)
        return sorted(int(m.group(1)) for m in map(_STATE_MARKER.match, names) if m)

    def load(self, batch_id: int) -> DedupeState:
        """The state left by the latest batch before ``batch_id``."""
        earlier = [b for b in self._batches() if b < batch_id]
        if not earlier:
            return DedupeState(None, None, self._delay)
        marker = json.loads(self._fs.read_text(f"{self._dir}/batch={earlier[-1]}.json") or "{}")
        return DedupeState(earlier[-1], marker.get("max_event_time_us"), self._delay)

    def ids(self, state: DedupeState) -> DataFrame:
        if state.batch_id is None:
            return self._spark.createDataFrame([], STATE_SCHEMA)
        return self._spark.read.schema(STATE_SCHEMA).parquet(f"{self._dir}/batch={state.batch_id}")

    def save(self, batch_id: int, previous: DedupeState, kept: DataFrame, batch_max_us: int | None) -> None:
        """Write the state of ``batch_id``: previous ids plus ``kept``'s, without those below the new watermark."""
        candidates = [t for t in (previous.max_event_time_us, batch_max_us) if t is not None]
        if not candidates:
            return
        new = DedupeState(batch_id, max(candidates), self._delay)
        # Each state is read back from its files by the next batch: its plan stays a file scan, where keeping
        # it in memory would chain every batch's plan onto the previous one.
        (
            self.ids(previous)
            .unionByName(kept.select(EVENT_ID, EVENT_TIME))
            .filter(F.col(EVENT_TIME) >= F.timestamp_micros(F.lit(new.watermark_us)))
            .coalesce(1)
            .write.mode("overwrite")
            .parquet(f"{self._dir}/batch={batch_id}")
        )
        # The marker is written last: a state without its marker is ignored (a crash mid-save).
        marker = {"max_event_time_us": new.max_event_time_us, "watermark": new.watermark.isoformat()}
        self._fs.write_text(f"{self._dir}/batch={batch_id}.json", json.dumps(marker))
        # Keep the state this batch started from: a retry of this batch must find it again.
        for old in self._batches():
            if old < batch_id and old != previous.batch_id:
                self._fs.delete(f"{self._dir}/batch={old}.json", False)
                self._fs.delete(f"{self._dir}/batch={old}")


def classify(
    batch: DataFrame,
    state: DedupeState,
    state_ids: DataFrame,
    rejection_reason: Column,
    rejects_only: tuple[str, ...] = (),
) -> DataFrame:
    """``batch`` with ``outcome`` (``valid``, ``duplicate`` or a reject reason) and ``detail`` columns.

    ``rejection_reason`` is the contract reject reason of a row (null when the row passed the contract).
    Columns named in ``rejects_only`` (the raw value) are nulled on rows that are not rejected, so they do
    not travel through the batch's shuffles and cache for nothing.
    """
    # The watermark a row is judged against: the state's (from earlier batches), or, if higher, the newest
    # contract-valid event time seen before the row in its Kafka partition minus the delay. Without the
    # second part a record arriving an hour late in a job's first batch (or in one large backlog batch) would
    # pass as valid, because Spark's own watermark only moves between batches. Kafka order makes it
    # deterministic, so a retried batch decides the same.
    delay_s = int(state.delay.total_seconds())
    seen_before = Window.partitionBy(PARTITION).orderBy(OFFSET).rowsBetween(Window.unboundedPreceding, -1)
    in_batch_watermark = F.max(F.when(rejection_reason.isNull(), F.col(EVENT_TIME))).over(seen_before) - F.expr(
        f"INTERVAL {delay_s} SECONDS"
    )
    state_watermark = (
        F.timestamp_micros(F.lit(state.watermark_us)) if state.watermark_us is not None else F.lit(None)
    ).cast("timestamp")
    watermark_col = F.greatest(state_watermark, in_batch_watermark)
    late = F.coalesce(F.col(EVENT_TIME) < F.col("_watermark"), F.lit(False))
    pre = batch.withColumn("_watermark", watermark_col).withColumn(
        "_pre_reason",
        F.when(rejection_reason.isNotNull(), rejection_reason).when(late, F.lit(RejectReason.LATE.value)),
    )
    for name in rejects_only:
        pre = pre.withColumn(name, F.when(F.col("_pre_reason").isNotNull(), F.col(name)))
    # The first copy of an id in this batch (lowest Kafka partition/offset) is kept, later copies are duplicates.
    # A window, not an aggregation joined back: the batch's source is then scanned (and parsed) only once.
    first_copy = Window.partitionBy(F.col(EVENT_ID), F.col("_pre_reason").isNull()).orderBy(PARTITION, OFFSET)
    seen = F.broadcast(state_ids.select(F.col(EVENT_ID).alias("_seen_id")).distinct())
    ranked = pre.withColumn("_copy", F.row_number().over(first_copy)).join(
        seen, F.col(EVENT_ID) == F.col("_seen_id"), "left"
    )
    later_copy = F.col("_copy") > 1
    outcome = F.coalesce(
        F.col("_pre_reason"),
        F.when(later_copy | F.col("_seen_id").isNotNull(), F.lit(DUPLICATE)),
        F.lit(VALID),
    )
    late_detail = F.format_string(
        "event_time %s is older than the watermark %s",
        F.date_format(F.col(EVENT_TIME), "yyyy-MM-dd'T'HH:mm:ss.SSSSSSXXX"),
        F.date_format(F.col("_watermark"), "yyyy-MM-dd'T'HH:mm:ss.SSSSSSXXX"),
    )
    return (
        ranked.withColumn(OUTCOME, outcome)
        .withColumn(DETAIL, F.when(F.col(OUTCOME) == RejectReason.LATE.value, late_detail))
        .drop("_pre_reason", "_copy", "_seen_id", "_watermark")
    )
