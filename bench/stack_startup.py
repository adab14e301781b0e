"""Benchmark: how fast the embedded stack starts, and how much memory it holds once idle.

Prints, for a stack of its own (fresh data directory, free ports; your own stack is not touched):
  - jar resolution: warm (the project cache) and, with --cold-maven, from an empty Maven repository
  - cold `stack up` (empty data directory: secrets, storage format, buckets) per service
  - warm `stack up` (restart with the data in place) per service
  - resident memory of each service once idle

Targets (issue 3): warm up <= 30 s for Kafka + S3; first install including jar resolution <= 5 minutes;
Kafka + S3 together <= 1.5 GB RSS.

Usage: .venv/bin/python bench/stack_startup.py [--cold-maven]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import psutil

from smartcity.settings import Settings
from smartcity.stack import jars
from smartcity.stack.ports import free_port_block
from smartcity.stack.runner import Stack


def resolve_cold(maven_repo: Path, cache: Path) -> float:
    started = time.monotonic()
    for jar_set in jars.JAR_SETS:
        subprocess.run(
            [
                "mvn",
                "-q",
                "-B",
                f"-Dmaven.repo.local={maven_repo}",
                "-f",
                str(jar_set.pom),
                "dependency:copy-dependencies",
                f"-DoutputDirectory={cache / jar_set.name}",
                "-DincludeScope=runtime",
            ],
            check=True,
        )
    return time.monotonic() - started


def rss_mb(pid: int) -> float:
    proc = psutil.Process(pid)
    total = proc.memory_info().rss
    total += sum(child.memory_info().rss for child in proc.children(recursive=True))
    return total / 1e6


def show(title: str, timings: dict[str, float], wall: float) -> None:
    parts = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in timings.items())
    print(f"{title:<28} total {wall:5.1f} s  ({parts})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cold-maven", action="store_true", help="also time jar resolution from an empty ~/.m2")
    parser.add_argument("--idle-seconds", type=float, default=10.0, help="wait before measuring memory")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="smartcity-bench-") as tmp:
        os.environ.update(free_port_block())
        os.environ["SMARTCITY_DATA_DIR"] = str(Path(tmp) / "data")
        settings = Settings()
        stack = Stack(settings)

        if args.cold_maven:
            seconds = resolve_cold(Path(tmp) / "m2", Path(tmp) / "jars")
            print(f"{'jar resolution, empty ~/.m2':<28} total {seconds:5.1f} s")
        started = time.monotonic()
        stack.setup()
        print(f"{'jar resolution, cached':<28} total {time.monotonic() - started:5.1f} s")

        try:
            started = time.monotonic()
            show("cold stack up", stack.up(), time.monotonic() - started)
            stack.down()
            started = time.monotonic()
            show("warm stack up", stack.up(), time.monotonic() - started)

            time.sleep(args.idle_seconds)  # memory "once idle" is by definition after a quiet period
            total = 0.0
            for status in stack.status():
                if status.pid:
                    mb = rss_mb(status.pid)
                    total += mb
                    print(f"{'RSS ' + status.name:<28} {mb:8.0f} MB")
            print(f"{'RSS all services':<28} {total:8.0f} MB")
            started = time.monotonic()
            stack.down()
            print(f"{'stack down':<28} total {time.monotonic() - started:5.1f} s")
        finally:
            stack.down()
            shutil.rmtree(Path(tmp) / "data", ignore_errors=True)


if __name__ == "__main__":
    main()
