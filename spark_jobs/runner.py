"""Starting the five queries, watching them, stopping them, and the exit summary."""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from contextlib import ExitStack, suppress
from typing import Any

from pyspark import SparkConf
from pyspark.errors import PySparkException
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.streaming import StreamingQuery

from smartcity.contracts.records import CONTRACTS
from spark_jobs.batch import KAFKA_TIMESTAMP, TOPIC, VALUE, BatchWriter, StreamPaths
from spark_jobs.contract_schema import validated
from spark_jobs.dedupe import OFFSET, PARTITION
from spark_jobs.drain import DrainError, EndOffsets, kafka_end_offsets, progress_offsets, reached, read_offsets_file
from spark_jobs.hadoop_fs import HadoopFs
from spark_jobs.job_config import JobConfig
from spark_jobs.metrics import Accounting, JsonLines, MetricsListener

# Settings the job relies on for correctness: always applied.
REQUIRED_CONF = {
    "spark.sql.session.timeZone": "UTC",  # event dates and timestamps are UTC in the lake
    "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",  # not INT96: Athena/DuckDB/pyarrow read it as is
}
# Sensible defaults a spark-submit --conf or spark-defaults.conf may override.
DEFAULT_CONF = {
    "spark.app.name": "smartcity-streaming",
    "spark.scheduler.mode": "FAIR",  # five queries share the cores instead of queueing behind one big batch
    "spark.sql.shuffle.partitions": "4",
    # Only the private staging prefix is written by Spark's committer; v2 saves one S3 copy per file.
    "spark.hadoop.mapreduce.fileoutputcommitter.algorithm.version": "2",
    "spark.hadoop.mapreduce.fileoutputcommitter.marksuccessfuljobs": "false",
}
POLL_S = 0.5


def build_session() -> SparkSession:
    conf = SparkConf()  # spark-submit's --conf and spark-defaults.conf
    for key, value in DEFAULT_CONF.items():
        conf.setIfMissing(key, value)
    for key, value in REQUIRED_CONF.items():
        conf.set(key, value)
    return SparkSession.builder.config(conf=conf).getOrCreate()


def source(spark: SparkSession, config: JobConfig, topic: str) -> DataFrame:
    reader = (
        spark.readStream.format("kafka")
        .option("kafka.bootstrap.servers", config.bootstrap_servers)
        .option("subscribe", topic)
        .option("startingOffsets", config.starting_offsets)
        .option("maxOffsetsPerTrigger", config.max_offsets_per_trigger)
        # Lose nothing: offsets that vanished (retention) before they were read fail the query.
        .option("failOnDataLoss", "true")
    )
    for key, value in config.kafka_options.items():
        reader = reader.option(f"kafka.{key}", value)
    return reader.load().select(
        F.col("value").cast("string").alias(VALUE),
        F.col("topic").alias(TOPIC),
        F.col("partition").alias(PARTITION),
        F.col("offset").alias(OFFSET),
        F.col("timestamp").alias(KAFKA_TIMESTAMP),
    )


class Job:
    """The running job: its queries, its stop conditions and its accounting."""

    def __init__(self, spark: SparkSession, config: JobConfig, out: JsonLines) -> None:
        self.spark, self.config, self.out = spark, config, out
        self.accounting = Accounting(list(config.streams))
        self.queries: dict[str, StreamingQuery] = {}
        self.stop_requested = threading.Event()
        self.stopped_by: str | None = None
        self.drain_targets: EndOffsets | None = None
        self.drain_started: float | None = None

    def paths(self, stream: str) -> StreamPaths:
        return StreamPaths.of(self.config.lake, self.config.checkpoint_dir, stream, self.config.staging_dir)

    def start(self) -> None:
        self.spark.streams.addListener(MetricsListener(self.accounting, self.out))
        for stream in self.config.streams:
            contract = CONTRACTS[stream]
            paths = self.paths(stream)
            writer = BatchWriter(self.spark, contract, paths, self.config.watermark_delay, self.accounting.record)
            # Each query's jobs run in its own fair-scheduler pool (local properties are inherited by the query).
            self.spark.sparkContext.setLocalProperty("spark.scheduler.pool", stream)
            stream_writer = (
                validated(source(self.spark, self.config, self.config.topic(stream)), contract, value=VALUE)
                .writeStream.queryName(stream)
                .foreachBatch(writer)
                .option("checkpointLocation", paths.checkpoint)
            )
            if self.config.drain:
                stream_writer = stream_writer.trigger(availableNow=True)
            else:
                stream_writer = stream_writer.trigger(processingTime=self.config.trigger_spec)
            self.queries[stream] = stream_writer.start()
        self.spark.sparkContext.setLocalProperty("spark.scheduler.pool", None)

    # ------------------------------------------------------------------ stopping

    def stop_gracefully(self, query: StreamingQuery) -> None:
        """Stop ``query`` between batches: wait for the running trigger to finish, then stop."""
        while query.isActive and query.status.get("isTriggerActive"):
            time.sleep(0.05)
        query.stop()

    def _drain_reached(self, stream: str, query: StreamingQuery) -> bool:
        assert self.drain_targets is not None
        topic = self.config.topic(stream)
        target = self.drain_targets.get(topic, {})
        progress = query.lastProgress
        consumed = progress_offsets(progress["sources"][0]["endOffset"]) if progress and progress["sources"] else {}
        return reached(consumed, target, topic)

    def _check_drain(self) -> None:
        path = self.config.drain_offsets_file
        if path is None:
            return
        if self.drain_targets is None:
            if not path.exists():
                return
            self.drain_targets = read_offsets_file(path) or kafka_end_offsets(
                self.config.bootstrap_servers,
                [self.config.topic(s) for s in self.config.streams],
                self.config.kafka_options,
            )
            self.drain_started = time.monotonic()
            self.out.write({"event": "drain_started", "end_offsets": self.drain_targets})
        for stream, query in self.queries.items():
            if query.isActive and self._drain_reached(stream, query):
                self.stop_gracefully(query)
                self.out.write({"event": "drained", "stream": stream})
                self.stopped_by = "drain"

    def _drain_timed_out(self) -> bool:
        timeout = self.config.drain_timeout
        if timeout is None:
            return False
        started = self.drain_started if self.config.drain_offsets_file else self._started
        return started is not None and time.monotonic() - started > timeout.total_seconds()

    def watch(self) -> str | None:
        """Run until every query has ended; return the error that ended the job, if any."""
        self._started = time.monotonic()
        while True:
            failed = [(s, q.exception()) for s, q in self.queries.items() if not q.isActive and q.exception()]
            if failed:
                stream, error = failed[0]
                self.stop_all()
                return f"query {stream} failed: {_first_line(error)}"
            if not any(q.isActive for q in self.queries.values()):
                self.stopped_by = self.stopped_by or ("drain" if self.config.drain else "stopped")
                return None
            if self.stop_requested.is_set():
                self.stopped_by = "signal"
                self.stop_all()
                return None
            if self._drain_timed_out():
                self.stop_all()
                return f"drain did not finish within {self.config.drain_timeout}"
            self._check_drain()
            self.stop_requested.wait(POLL_S)

    def stop_all(self) -> None:
        for query in self.queries.values():
            if query.isActive:
                self.stop_gracefully(query)

    # ------------------------------------------------------------------ summary

    def summary(self, error: str | None) -> dict[str, Any]:
        _wait_for_listener_events(self.spark)
        fs = HadoopFs(self.spark)
        streams = {}
        for stream, totals in self.accounting.totals.items():
            lake_files = [f for f in fs.list_files(self.paths(stream).data) if f.uri.endswith(".parquet")]
            lake_bytes = sum(f.size for f in lake_files)
            streams[stream] = {
                **totals.as_dict(),
                "lake_files": len(lake_files),
                "lake_avg_file_bytes": round(lake_bytes / len(lake_files)) if lake_files else 0,
            }
        return {
            "event": "summary",
            "status": "failed" if error else "ok",
            "error": error,
            "stopped_by": self.stopped_by,
            "balanced": all(s["balanced"] for s in streams.values()),
            "streams": streams,
        }


def _first_line(error: Any) -> str:
    text = str(getattr(error, "desc", None) or error)
    return text.strip().splitlines()[0] if text.strip() else repr(error)


def _wait_for_listener_events(spark: SparkSession) -> None:
    """Let the listener write the progress of the last batches before the summary is taken."""
    with suppress(Exception):
        spark.sparkContext._jsc.sc().listenerBus().waitUntilEmpty(10_000)


def check_topics(config: JobConfig) -> None:
    """Fail early, with the topic's name, rather than let a query wait forever for a topic that is not there."""
    kafka_end_offsets(config.bootstrap_servers, [config.topic(s) for s in config.streams], config.kafka_options)


def run(config: JobConfig) -> int:
    try:
        check_topics(config)
        if config.drain_offsets_file and config.drain_offsets_file.exists():
            read_offsets_file(config.drain_offsets_file)  # a bad report is an argument error: report it now
    except DrainError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    with ExitStack() as stack:
        sink = sys.stdout
        if config.metrics_file:
            config.metrics_file.parent.mkdir(parents=True, exist_ok=True)
            sink = stack.enter_context(config.metrics_file.open("a"))
        out = JsonLines(sink)
        spark = build_session()
        job = Job(spark, config, out)

        def request_stop(signum: int, _frame: object) -> None:
            out.write({"event": "stop_requested", "signal": signal.Signals(signum).name})
            job.stop_requested.set()

        signal.signal(signal.SIGTERM, request_stop)
        signal.signal(signal.SIGINT, request_stop)
        out.write(
            {
                "event": "job_started",
                "pid": os.getpid(),
                "streams": list(config.streams),
                "lake": config.lake,
                "checkpoint_dir": config.checkpoint_dir,
                "trigger": "availableNow" if config.drain else config.trigger_spec,
                "max_offsets_per_trigger": config.max_offsets_per_trigger,
            }
        )
        try:
            job.start()
            error = job.watch()
        except (PySparkException, DrainError) as failure:
            job.stop_all()
            error = _first_line(failure)
        summary = job.summary(error)
        out.write(summary)
        if config.summary_file:
            config.summary_file.parent.mkdir(parents=True, exist_ok=True)
            config.summary_file.write_text(json.dumps(summary, indent=2) + "\n")
        if sink is not sys.stdout:
            print(json.dumps(summary))
        if error:
            print(f"error: {error}", file=sys.stderr)
        spark.stop()
        return 1 if error else 0
