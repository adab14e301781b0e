"""Pure data shaping: query rows, the run report and the job's metrics into what the figures and tables show."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, ValidationError

from plugins.lake import reconcile
from producers.route import Route, default_route
from smartcity.contracts.records import CONTRACTS, INCIDENT_TYPES
from smartcity.report.errors import ReportError
from smartcity.report.model import ReconRow

TRACK_COLUMNS = ["vehicle_id", "t", "latitude", "longitude", "speed_kmh"]
WEATHER_COLUMNS = ["vehicle_id", "t", "latitude", "longitude", "altitude_m", "temperature_c", "air_quality_index"]
INCIDENT_COLUMNS = ["incident_id", "incident_type", "latitude", "longitude", "location", "t", "status_events"]
CAMERA_COLUMNS = ["camera_id", "latitude", "longitude", "location", "snapshots"]
BATCH_COLUMNS = [
    "stream",
    "batch_id",
    "ts",
    "t_s",
    "input_rows",
    "processed_rows_per_second",
    "batch_duration_ms",
    "rows",
    "valid",
    "quarantined",
    "duplicates",
]
ROUTE_STEP_M = 100.0  # resolution of the route when placing observations along it


def frame(rows: Sequence[Mapping[str, Any]], columns: list[str]) -> pd.DataFrame:
    """Rows as a DataFrame with exactly ``columns`` (also when there are no rows)."""
    return pd.DataFrame([{c: row.get(c) for c in columns} for row in rows], columns=columns)


# --- reconciliation ----------------------------------------------------------------------------------------------
def quarantine_by_stream(rows: Iterable[Mapping[str, Any]], prefix: str = "") -> dict[tuple[str, str], int]:
    """``(stream, reason) -> rows`` from the quarantine count query (whose ``stream`` is the Kafka topic)."""
    counts: dict[tuple[str, str], int] = {}
    for row in rows:
        key = (str(row["stream"]).removeprefix(prefix), str(row["reason"]))
        counts[key] = counts.get(key, 0) + int(row["row_count"])
    return counts


def reconciliation(
    report: Mapping[str, Any], lake_rows: Mapping[str, int], quarantine_rows: Mapping[tuple[str, str], int]
) -> list[ReconRow]:
    """One row per stream of the run (contract order), with the mismatches ``plugins.lake.reconcile`` finds.

    ``report`` is the run report as JSON data with ``topics`` keyed by stream; the checks are the DAG's own,
    so the page and the DAG's reconcile task never disagree.
    """
    problems: dict[str, list[str]] = {}
    for message in reconcile(report, lake_rows, quarantine_rows):
        problems.setdefault(message.split(":", 1)[0], []).append(message)
    topics = report["topics"]
    order = [s for s in CONTRACTS if s in topics] + sorted(set(topics) - set(CONTRACTS))
    rows = []
    for stream in order:
        counts = topics[stream]
        by_reason = {reason: n for (s, reason), n in sorted(quarantine_rows.items()) if s == stream and n}
        rows.append(
            ReconRow(
                stream=stream,
                produced=int(counts["produced"]),
                acknowledged=int(counts["acknowledged"]),
                expected_landed=int(counts["expected_valid"]),
                landed=int(lake_rows.get(stream, 0)),
                expected_quarantined=sum(int(n) for n in (counts.get("expected_quarantined") or {}).values()),
                quarantined=sum(by_reason.values()),
                quarantined_by_reason=by_reason,
                duplicates_dropped=int(counts.get("expected_duplicates") or 0),
                problems=tuple(problems.get(stream, ())),
            )
        )
    # Rows for streams the run did not produce (reconcile reports them) are shown too.
    for stream in sorted(set(lake_rows) - set(topics)):
        if lake_rows[stream]:
            rows.append(ReconRow(stream, 0, 0, 0, int(lake_rows[stream]), 0, 0, {}, 0, tuple(problems.get(stream, ()))))
    return rows


# --- the streaming job's batches -------------------------------------------------------------------------------
class BatchLine(BaseModel):
    """The fields of a ``{"event": "batch"}`` metrics line the report uses (see ``spark_jobs.metrics``)."""

    model_config = ConfigDict(extra="ignore")

    ts: float
    stream: str
    batch_id: int
    input_rows: int
    processed_rows_per_second: float = 0.0
    batch_duration_ms: int
    valid: int | None = None
    quarantined: int | None = None
    duplicates: int | None = None

    @property
    def rows(self) -> int:
        """Rows the batch classified, by the job's own count; Spark's ``input_rows`` (numInputRows) counts
        every scan of the source, so a batch read twice reports twice its rows."""
        if self.valid is None or self.quarantined is None or self.duplicates is None:
            return self.input_rows
        return self.valid + self.quarantined + self.duplicates


def batch_frame(records: Sequence[Mapping[str, Any]], source: str = "metrics") -> pd.DataFrame:
    """The job's batches, with ``t_s`` = seconds since the (first) job start."""
    batches = []
    for number, record in enumerate(records, start=1):
        if record.get("event") != "batch":
            continue
        try:
            line = BatchLine.model_validate(record)
            batches.append({**line.model_dump(), "rows": line.rows})
        except ValidationError as exc:
            first = exc.errors()[0]
            field = ".".join(str(p) for p in first["loc"])
            raise ReportError(f"{source}: record {number} (a batch) has a bad '{field}': {first['msg']}") from exc
    table = pd.DataFrame(batches, columns=[c for c in BATCH_COLUMNS if c != "t_s"])
    starts = [float(r["ts"]) for r in records if r.get("event") == "job_started" and "ts" in r]
    zero = min(starts) if starts else (table["ts"].min() if len(table) else 0.0)
    table.insert(3, "t_s", table["ts"] - zero)
    return table.sort_values(["ts", "stream"], kind="stable").reset_index(drop=True)


def throughput(batches: pd.DataFrame) -> pd.DataFrame:
    """Per stream and batch: rows per second of processing (``rows`` over the batch's duration)."""
    busy = batches[(batches["rows"] > 0) & (batches["batch_duration_ms"] > 0)].copy()
    busy["rows_per_s"] = busy["rows"] / (busy["batch_duration_ms"] / 1000.0)
    return busy


# --- the journey ------------------------------------------------------------------------------------------------------
def _dense(route: Route, step_m: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    distances = np.append(np.arange(0.0, route.length_m, step_m), route.length_m)
    points = np.array([route.position(d)[:2] for d in distances])
    return distances, points[:, 0], points[:, 1]


def route_distance_km(latitude: Sequence[float], longitude: Sequence[float], route: Route | None = None) -> np.ndarray:
    """Kilometres from the route's start of the route point nearest to each position (within ~50 m)."""
    route = route or default_route()
    distances, lat, lon = _dense(route, ROUTE_STEP_M)
    lat_q = np.asarray(latitude, dtype=float)
    lon_q = np.asarray(longitude, dtype=float)
    if lat_q.size == 0:
        return np.empty(0)
    scale = np.cos(np.radians(np.nanmean(lat)))  # equirectangular: fine for nearest-point search
    out = np.empty(lat_q.size)
    chunk = max(1, 2_000_000 // lat.size)
    for start in range(0, lat_q.size, chunk):
        dlat = lat_q[start : start + chunk, None] - lat[None, :]
        dlon = (lon_q[start : start + chunk, None] - lon[None, :]) * scale
        out[start : start + chunk] = distances[np.argmin(dlat * dlat + dlon * dlon, axis=1)] / 1000.0
    return out


def route_profile(route: Route | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(km from the start, altitude in m) of every route point: the climb to Baguio."""
    route = route or default_route()
    return np.asarray(route.cum) / 1000.0, np.asarray(route.alt)


def incident_counts(incidents: pd.DataFrame) -> list[tuple[str, int]]:
    """Incidents per type, in the contract's order of types, types that occurred only."""
    counts = incidents["incident_type"].value_counts() if len(incidents) else pd.Series(dtype=int)
    known = [(kind, int(counts[kind])) for kind in INCIDENT_TYPES if kind in counts]
    other = [(str(kind), int(n)) for kind, n in counts.items() if kind not in INCIDENT_TYPES]
    return known + other
