"""Benchmark: the one-command demo, cold and warm, and the whole stack's peak memory while it runs.

Runs on a stack of its own (fresh data directory, free ports; your own stack is not touched):
  1. cold: empty data directory -> `stack up` (secrets, storage, Airflow database) -> one journey through
     Airflow's REST API -> validated (the journey DAG's reconciliation passed);
  2. warm: the same stack, already up -> a second journey -> validated.
While they run, it samples every process of the stack (supervisord's tree: Kafka, SeaweedFS, the stand-in,
the four Airflow components, their task processes, spark-submit and its JVM) and prints the peak of the
summed RSS and of the summed PSS (RSS counts memory shared by forked Airflow workers once per process).

Targets (issue 7): cold <= 10 min including install (install is measured by bootstrap.sh, not here),
warm <= 3 min, the whole stack <= 8 GB resident at peak.

Usage: .venv/bin/python bench/demo.py [--vehicles 5 --speed-up 60 --duration 120 --bad-record-rate 0.01]
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass

import psutil

from smartcity.airflow_client import AirflowClient
from smartcity.settings import Settings
from smartcity.stack.ports import free_port_block
from smartcity.stack.runner import Stack


@dataclass
class Peak:
    rss: int = 0
    pss: int = 0
    processes: int = 0
    top: list[tuple[str, int]] | None = None


class MemorySampler(threading.Thread):
    """Sums RSS/PSS over supervisord's process tree every ``interval_s``; keeps the peak."""

    def __init__(self, stack: Stack, interval_s: float = 1.0) -> None:
        super().__init__(daemon=True)
        self.stack, self.interval_s = stack, interval_s
        self.peak = Peak()
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.wait(self.interval_s):
            pid = self.stack.paths.pidfile.read_text().strip() if self.stack.paths.pidfile.exists() else ""
            if not pid:
                continue
            try:
                procs = psutil.Process(int(pid)).children(recursive=True)
            except psutil.Error:
                continue
            rss = pss = 0
            by_name: dict[str, int] = {}
            for proc in procs:
                try:
                    info = proc.memory_full_info()
                    name = " ".join(proc.cmdline()[:3])[-60:]
                except psutil.Error:
                    continue
                rss += info.rss
                pss += getattr(info, "pss", info.rss)
                by_name[name] = by_name.get(name, 0) + getattr(info, "pss", info.rss)
            if pss > self.peak.pss:
                top = sorted(by_name.items(), key=lambda kv: -kv[1])[:8]
                self.peak = Peak(max(rss, self.peak.rss), pss, len(procs), top)
            else:
                self.peak.rss = max(rss, self.peak.rss)

    def stop(self) -> None:
        self._halt.set()
        self.join()


def journey(settings: Settings, conf: dict) -> tuple[float, str]:
    started = time.monotonic()
    with AirflowClient.from_settings(settings) as airflow:
        airflow.wait_for_dag("smartcity_journey")
        run_id = airflow.trigger("smartcity_journey", conf)["dag_run_id"]
        state = airflow.wait_for_run("smartcity_journey", run_id, timeout_s=1800)["state"]
    return time.monotonic() - started, state


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vehicles", type=int, default=5)
    parser.add_argument("--speed-up", type=float, default=60)
    parser.add_argument("--duration", type=int, default=120)
    parser.add_argument("--bad-record-rate", type=float, default=0.01)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    conf = {
        "vehicles": args.vehicles,
        "speed_up": args.speed_up,
        "duration": args.duration,
        "bad_record_rate": args.bad_record_rate,
        "seed": args.seed,
    }
    data_dir = tempfile.mkdtemp(prefix="smartcity-bench-demo-")
    os.environ.update({"SMARTCITY_DATA_DIR": data_dir, **free_port_block()})
    settings = Settings()
    stack = Stack(settings)
    sampler = MemorySampler(stack)
    sampler.start()
    try:
        started = time.monotonic()
        timings = stack.up()
        up_s = time.monotonic() - started
        settings = Settings()  # now with the generated credentials
        cold_journey_s, cold_state = journey(settings, conf)
        warm_journey_s, warm_state = journey(settings, {**conf, "seed": args.seed + 1})
    finally:
        try:
            stack.down()
        finally:
            sampler.stop()
            shutil.rmtree(data_dir, ignore_errors=True)
    print(f"journey: {conf}")
    print(
        f"cold stack up (empty data dir, jars cached): {up_s:6.1f} s  "
        + ", ".join(f"{k} {v:.0f}s" for k, v in timings.items())
    )
    print(f"cold journey -> validated:                   {cold_journey_s:6.1f} s  ({cold_state})")
    print(
        f"cold total:                                  {up_s + cold_journey_s:6.1f} s   target <= 600 s incl. install"
    )
    print(f"warm journey -> validated (stack up):        {warm_journey_s:6.1f} s  ({warm_state})   target <= 180 s")
    peak = sampler.peak
    print(
        f"peak memory of the stack: PSS {peak.pss / 2**30:.2f} GiB, RSS sum {peak.rss / 2**30:.2f} GiB "
        f"({peak.processes} processes)   target <= 8 GB"
    )
    for name, pss in peak.top or []:
        print(f"    {pss / 2**20:7.0f} MiB  {name}")


if __name__ == "__main__":
    main()
