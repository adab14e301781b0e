"""The streaming job's command line. Defaults come from the project settings (the same environment variables
``smartcity stack env`` exports); hosts, buckets and paths are never written into the job."""

from __future__ import annotations

import argparse
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from smartcity.contracts.records import CONTRACTS
from smartcity.kafka_client import spark_kafka_options
from smartcity.settings import Settings

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|milliseconds?|s|seconds?|m|minutes?|h|hours?)\s*$")
_UNIT_SECONDS = {"ms": 0.001, "millisecond": 0.001, "s": 1, "second": 1, "m": 60, "minute": 60, "h": 3600, "hour": 3600}


class JobConfigError(Exception):
    """A bad argument; the message says which and why."""


def parse_duration(text: str) -> timedelta:
    """``"2 minutes"``, ``"10 seconds"``, ``"500ms"`` -> timedelta."""
    match = _DURATION.match(text)
    if not match:
        raise JobConfigError(f"not a duration: {text!r} (use e.g. '10 seconds', '2 minutes', '500 ms')")
    unit = match.group(2).rstrip("s") if match.group(2) not in ("s", "ms") else match.group(2)
    return timedelta(seconds=float(match.group(1)) * _UNIT_SECONDS[unit])


def _as_uri(location: str) -> str:
    """A Hadoop URI for ``location``: plain local paths become ``file:`` URIs."""
    if re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*://", location):
        return location.rstrip("/")
    return Path(location).expanduser().resolve().as_uri()


@dataclass(frozen=True)
class JobConfig:
    bootstrap_servers: str
    lake: str
    checkpoint_dir: str
    staging_dir: str | None
    streams: tuple[str, ...]
    trigger_interval: timedelta
    max_offsets_per_trigger: int
    starting_offsets: str
    watermark_delay: timedelta
    drain: bool
    drain_offsets_file: Path | None
    drain_timeout: timedelta | None
    metrics_file: Path | None
    summary_file: Path | None
    kafka_options: dict[str, str] = field(default_factory=dict)
    topic_prefix: str = ""

    def topic(self, stream: str) -> str:
        """The Kafka topic of ``stream``: the contract's topic, behind the optional prefix."""
        return f"{self.topic_prefix}{CONTRACTS[stream].topic}"

    @property
    def trigger_spec(self) -> str:
        return f"{self.trigger_interval.total_seconds():g} seconds"


def build_parser(settings: Settings) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="spark-submit spark_jobs/streaming_job.py",
        description="Kafka -> validated, de-duplicated Parquet lake, exactly once, with a quarantine.",
    )
    where = parser.add_argument_group("where")
    where.add_argument(
        "--bootstrap-servers",
        default=settings.kafka_bootstrap,
        help="Kafka bootstrap servers (default: $KAFKA_BOOTSTRAP_SERVERS or the local stack's)",
    )
    where.add_argument(
        "--lake",
        default=f"s3a://{settings.lake_bucket}",
        help="lake root URI; data under <lake>/data/<stream>/, rejects under <lake>/quarantine/<stream>/ "
        "(default: s3a://$SMARTCITY_LAKE_BUCKET)",
    )
    where.add_argument(
        "--checkpoint-dir",
        default=str(settings.spark_checkpoint_dir),
        help="root of the per-stream checkpoints and dedupe state, a local path or URI "
        "(default: <SMARTCITY_DATA_DIR>/spark/checkpoints)",
    )
    where.add_argument(
        "--staging-dir",
        default=None,
        help="where Spark writes a batch before it is moved to its final names (default: <lake>/_staging)",
    )
    where.add_argument(
        "--streams",
        default=",".join(CONTRACTS),
        help=f"comma-separated streams to run (default: all: {','.join(CONTRACTS)})",
    )
    where.add_argument(
        "--topic-prefix",
        default="",
        help="prefix of every topic name, e.g. 'staging.' reads staging.vehicle_data (default: none)",
    )
    where.add_argument(
        "--kafka-option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra Kafka client setting (e.g. security.protocol=SSL); repeatable",
    )
    pace = parser.add_argument_group("pace")
    pace.add_argument("--trigger-interval", default="5 seconds", help="processing-time trigger (default: 5 seconds)")
    pace.add_argument(
        "--max-offsets-per-trigger",
        type=int,
        default=500_000,
        help="cap on records per stream per micro-batch; bounds batch memory while letting a backlog "
        "produce large files (default: 500000)",
    )
    pace.add_argument(
        "--starting-offsets",
        default="earliest",
        choices=["earliest", "latest"],
        help="where a query without a checkpoint starts (default: earliest); afterwards the checkpoint rules",
    )
    pace.add_argument("--watermark", default="2 minutes", help="event-time watermark delay (default: 2 minutes)")
    stop = parser.add_argument_group("stopping")
    stop.add_argument(
        "--drain",
        action="store_true",
        help="consume every topic up to its end offsets at start, then stop (Trigger.AvailableNow)",
    )
    stop.add_argument(
        "--drain-offsets",
        type=Path,
        default=None,
        metavar="FILE",
        help="stream until FILE (a producer run report with end offsets, {'end_offsets': {topic: {partition: "
        "offset}}}) exists and every topic is consumed up to it, then stop",
    )
    stop.add_argument(
        "--drain-timeout",
        default=None,
        help="fail if a drain has not finished within this duration (default: no limit)",
    )
    out = parser.add_argument_group("reporting")
    out.add_argument("--metrics-file", type=Path, default=None, help="JSON lines per batch (default: stdout)")
    out.add_argument("--summary-file", type=Path, default=None, help="write the exit summary JSON here too")
    return parser


def parse_args(argv: Sequence[str] | None = None, settings: Settings | None = None) -> JobConfig:
    """Parse the command line; argparse prints usage and exits 2 on syntax errors, others raise JobConfigError."""
    settings = settings or Settings()
    args = build_parser(settings).parse_args(argv)
    streams = tuple(s.strip() for s in args.streams.split(",") if s.strip())
    unknown = [s for s in streams if s not in CONTRACTS]
    if unknown or not streams:
        raise JobConfigError(f"unknown stream(s) {unknown or args.streams!r}; known: {', '.join(CONTRACTS)}")
    if args.drain and args.drain_offsets:
        raise JobConfigError("--drain and --drain-offsets are alternatives: choose one")
    if args.max_offsets_per_trigger < 1:
        raise JobConfigError("--max-offsets-per-trigger must be at least 1")
    # Security from the settings (the environment, never argv); --kafka-option entries override it.
    options = {key.removeprefix("kafka."): value for key, value in spark_kafka_options(settings).items()}
    for item in args.kafka_option:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise JobConfigError(f"--kafka-option needs KEY=VALUE, got {item!r}")
        options[key.strip()] = value.strip()
    trigger = parse_duration(args.trigger_interval)
    if trigger <= timedelta(0):
        raise JobConfigError("--trigger-interval must be positive")
    return JobConfig(
        bootstrap_servers=args.bootstrap_servers,
        lake=_as_uri(args.lake),
        checkpoint_dir=_as_uri(args.checkpoint_dir),
        staging_dir=_as_uri(args.staging_dir) if args.staging_dir else None,
        streams=streams,
        trigger_interval=trigger,
        max_offsets_per_trigger=args.max_offsets_per_trigger,
        starting_offsets=args.starting_offsets,
        watermark_delay=parse_duration(args.watermark),
        drain=args.drain,
        drain_offsets_file=args.drain_offsets,
        drain_timeout=parse_duration(args.drain_timeout) if args.drain_timeout else None,
        metrics_file=args.metrics_file,
        summary_file=args.summary_file,
        kafka_options=options,
        topic_prefix=args.topic_prefix,
    )
