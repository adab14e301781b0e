"""Kafka -> validated, de-duplicated Parquet lake on S3, exactly once, with a quarantine for rejects.

One Structured Streaming query per stream of ``smartcity.contracts.records.CONTRACTS``: parse each record with
the contract's schema, validate it against the contract's rules, drop duplicates by ``event_id`` within a
2-minute event-time watermark, write valid rows to ``<lake>/data/<stream>/date=YYYY-MM-DD/`` and rejects
(with reason, detail, raw value and Kafka coordinates) to ``<lake>/quarantine/<stream>/date=YYYY-MM-DD/``.

Usage (jars, the S3 endpoint and credentials come from SPARK_CONF_DIR and the AWS_* environment)::

    spark-submit spark_jobs/streaming_job.py --drain
    spark-submit spark_jobs/streaming_job.py --trigger-interval "10 seconds" --metrics-file metrics.jsonl

Outputs (``<lake>`` is ``--lake``, default ``s3a://$SMARTCITY_LAKE_BUCKET``)::

    <lake>/data/<stream>/date=YYYY-MM-DD/<batch_id:010d>-<rank:03d>.snappy.parquet        contract columns only
    <lake>/quarantine/<stream>/date=YYYY-MM-DD/<batch_id:010d>-<rank:03d>.snappy.parquet  reason, field, detail,
        raw, topic, kafka_partition, kafka_offset, kafka_timestamp, event_id, event_time, batch_id
    <lake>/_staging/<stream>/...      Spark's output of the batch in flight (outside data/ and quarantine/)
    <checkpoint-dir>/<stream>/spark   the query's checkpoint; <checkpoint-dir>/<stream>/dedupe  watermark state

Data partitions are the event date (UTC); quarantine partitions the Kafka timestamp's date. Timestamps are
TIMESTAMP_MICROS UTC. Every batch writes one file per date under a name that depends only on its batch id,
so a batch Spark retries after a crash replaces its own files (see ``spark_jobs/lake_writer.py``).

Reporting: one JSON line per event to ``--metrics-file`` (default stdout): ``job_started`` (with the Python
driver's ``pid``), ``query_started``, ``batch`` (input rows, rows/s, durations, Kafka offsets, valid,
quarantined by reason, duplicates, late, files, bytes, watermark, seconds per phase), ``query_terminated``
and a final ``summary`` (per stream: consumed, written, quarantined by reason, duplicates, late, ``balanced``
= consumed == written + quarantined + duplicates, files, bytes, avg_file_bytes, lake_files,
lake_avg_file_bytes), also written to ``--summary-file``.

Stopping: ``--drain`` (Trigger.AvailableNow) or ``--drain-offsets FILE`` end on their own; SIGTERM/SIGINT to
the Python driver (the ``pid`` of ``job_started``) lets the running batches finish, then stops. Killing the
spark-submit JVM instead loses no data either: the batch in flight is redone from the checkpoint next start.

Exit status: 0 when every query stopped cleanly (drained, or stopped by SIGTERM/SIGINT after finishing its
running batch), 1 when a query failed (the others are stopped, the error is printed), 2 for bad arguments or
an unusable environment (unknown topic, unreachable Kafka).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

if __package__ in (None, ""):  # run as a file by spark-submit: make the repository's packages importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from spark_jobs.job_config import JobConfigError, parse_args


def main(argv: Sequence[str] | None = None) -> int:
    try:
        config = parse_args(argv)
    except JobConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    from spark_jobs.runner import run  # imports pyspark: after argument errors are reported

    return run(config)


if __name__ == "__main__":
    sys.exit(main())
