"""The report's figures: matplotlib on the Agg canvas, one PNG file each.

Figures are built with the object API (``Figure`` + ``FigureCanvasAgg``), never ``pyplot``: no global state,
no GUI backend to select, safe inside an Airflow worker. A figure without data is not drawn; the page says why.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta, timezone
from pathlib import Path

import matplotlib.dates as mdates
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from producers.route import default_route
from smartcity.contracts.records import CONTRACTS
from smartcity.report.model import ReportData
from smartcity.report.shaping import incident_counts, route_distance_km, route_profile, throughput

DPI = 110
MANILA = timezone(timedelta(hours=8), "PHT")
LEGEND_MAX_VEHICLES = 10
INCIDENT_STYLE = {  # marker, colour
    "accident": ("X", "#d62728"),
    "road_block": ("s", "#8c564b"),
    "medical": ("P", "#e377c2"),
    "fire": ("^", "#ff7f0e"),
    "police": ("D", "#1f77b4"),
    "flood": ("v", "#17becf"),
    "landslide": ("o", "#7f7f7f"),
}
QUERY_COLOURS = {"pipeline": ("#fdd0a2", "#d94801"), "report": ("#c6dbef", "#2171b5")}
MAX_QUERY_BARS = 40
FLOW_COLOURS = {"produced": "#4c72b0", "landed": "#55a868", "quarantined": "#dd8452", "duplicates": "#8172b3"}


@dataclass(frozen=True)
class FigureFile:
    name: str  # file name next to the page
    title: str
    caption: str


def _new(width: float, height: float) -> Figure:
    figure = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def _save(figure: Figure, path: Path) -> None:
    figure.savefig(path, format="png", dpi=DPI, facecolor="white")


def _vehicle_colours(vehicles: list[str]) -> dict[str, tuple[float, ...]]:
    import matplotlib

    cmap = matplotlib.colormaps["tab10" if len(vehicles) <= 10 else "viridis"]
    n = max(len(vehicles) - 1, 1)
    return {v: cmap(i % 10 if len(vehicles) <= 10 else i / n) for i, v in enumerate(sorted(vehicles))}


def _stream_colours(streams: list[str]) -> dict[str, tuple[float, ...]]:
    """The same colour for a stream in every figure (contract order, then any other)."""
    import matplotlib

    cmap = matplotlib.colormaps["tab10"]
    order = [s for s in CONTRACTS if s in streams] + sorted(set(streams) - set(CONTRACTS))
    return {stream: cmap(i % 10) for i, stream in enumerate(order)}


def _local_times(seconds: pd.Series) -> pd.Series:
    return pd.to_datetime(seconds, unit="s", utc=True).dt.tz_convert(MANILA)


def _thousands(axis) -> None:
    axis.set_major_formatter(FuncFormatter(lambda value, _pos: f"{value:,.0f}"))


# --- the journey ------------------------------------------------------------------------------------------------
def route_map(data: ReportData, path: Path) -> FigureFile | None:
    route = default_route()
    figure = _new(8.5, 10.5)
    ax = figure.add_subplot()
    ax.plot(route.lon, route.lat, color="#c8c8c8", linewidth=6, solid_capstyle="round", zorder=1, label="route")
    colours = _vehicle_colours(list(data.tracks["vehicle_id"].unique()))
    for vehicle, track in data.tracks.groupby("vehicle_id", sort=True):
        label = vehicle if len(colours) <= LEGEND_MAX_VEHICLES else None
        ax.plot(track["longitude"], track["latitude"], color=colours[vehicle], linewidth=1.3, zorder=2, label=label)
    if len(colours) > LEGEND_MAX_VEHICLES:
        ax.plot([], [], color="#555", linewidth=1.3, label=f"{len(colours)} vehicle tracks")
    if len(data.cameras):
        ax.scatter(
            data.cameras["longitude"],
            data.cameras["latitude"],
            marker="s",
            s=14,
            color="#333",
            zorder=3,
            label=f"camera ({len(data.cameras)})",
        )
    for kind, group in data.incidents.groupby("incident_type", sort=True):
        marker, colour = INCIDENT_STYLE.get(str(kind), ("o", "#000"))
        ax.scatter(
            group["longitude"],
            group["latitude"],
            marker=marker,
            s=70,
            color=colour,
            edgecolor="white",
            linewidth=0.7,
            zorder=4,
            label=f"{str(kind).replace('_', ' ')} ({len(group)})",
        )
    for index, name, align in ((0, "Antipolo", "left"), (-1, "Baguio", "right")):
        ax.annotate(
            name,
            (route.lon[index], route.lat[index]),
            xytext=(8 if align == "left" else -8, 0),
            textcoords="offset points",
            ha=align,
            va="center",
            fontsize=11,
            fontweight="bold",
        )
        ax.plot(route.lon[index], route.lat[index], "o", color="black", markersize=6, zorder=5)
    ax.set_aspect(1 / math.cos(math.radians(float(np.mean(route.lat)))))
    ax.set_xlabel("longitude (°E)")
    ax.set_ylabel("latitude (°N)")
    ax.grid(color="#eee")
    ax.legend(loc="lower right", fontsize=8, framealpha=0.9)
    ax.set_title("Antipolo → Baguio: vehicle tracks, cameras and incidents")
    _save(figure, path)
    return FigureFile(
        path.name,
        "Route",
        "Each vehicle's reported positions (vehicle_data) over the route, the cameras that photographed the "
        "fleet (traffic_data) and the incidents it met (emergency_data). Plain latitude/longitude axes, "
        "scaled for the latitude.",
    )


def speed_over_time(data: ReportData, path: Path) -> FigureFile | None:
    if not len(data.tracks):
        return None
    figure = _new(11, 4.8)
    ax = figure.add_subplot()
    colours = _vehicle_colours(list(data.tracks["vehicle_id"].unique()))
    many = len(colours) > LEGEND_MAX_VEHICLES
    for vehicle, track in data.tracks.groupby("vehicle_id", sort=True):
        ax.plot(
            _local_times(track["t"]),
            track["speed_kmh"],
            color=colours[vehicle],
            linewidth=0.8 if many else 1.2,
            alpha=0.6 if many else 1.0,
            label=None if many else vehicle,
        )
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M", tz=MANILA))
    ax.set_xlabel("time in the Philippines (UTC+8)")
    ax.set_ylabel("speed (km/h)")
    ax.set_ylim(bottom=0)
    ax.grid(color="#eee")
    if not many:
        ax.legend(fontsize=8, ncols=min(len(colours), 5), loc="upper left")
    ax.set_title("Speed over time per vehicle")
    _save(figure, path)
    return FigureFile(
        path.name,
        "Speed",
        "Reported speed of each vehicle: city traffic out of Antipolo and Metro Manila, the expressways "
        "(NLEX, SCTEX, TPLEX), then the mountain road up to Baguio.",
    )


def _altitude_behind(ax: Axes) -> None:
    km, altitude = route_profile()
    twin = ax.twinx()
    twin.fill_between(km, altitude, color="#dddddd", alpha=0.6, zorder=0, linewidth=0)
    twin.set_ylabel("altitude (m)", color="#888")
    twin.tick_params(axis="y", colors="#888")
    twin.set_ylim(0, max(float(altitude.max()) * 1.1, 1.0))
    ax.set_zorder(twin.get_zorder() + 1)
    ax.patch.set_visible(False)


def weather_along_route(data: ReportData, path: Path) -> FigureFile | None:
    if not len(data.weather):
        return None
    weather = data.weather.assign(km=route_distance_km(data.weather["latitude"], data.weather["longitude"]))
    figure = _new(11, 7)
    top, bottom = figure.subplots(2, 1, sharex=True)
    colours = _vehicle_colours(list(weather["vehicle_id"].unique()))
    many = len(colours) > LEGEND_MAX_VEHICLES
    for vehicle, rows in weather.groupby("vehicle_id", sort=True):
        style = {"s": 6 if many else 10, "alpha": 0.5 if many else 0.85, "color": colours[vehicle]}
        top.scatter(rows["km"], rows["temperature_c"], label=None if many else vehicle, **style)
        bottom.scatter(rows["km"], rows["air_quality_index"], **style)
    for ax in (top, bottom):
        _altitude_behind(ax)
        ax.set_axisbelow(True)
        ax.grid(color="#eee")
    top.set_ylabel("temperature (°C)")
    bottom.set_ylabel("air quality index (US EPA)")
    bottom.set_xlabel("km from Antipolo")
    bottom.set_ylim(bottom=0)
    if not many:
        top.legend(fontsize=8, loc="lower left", ncols=min(len(colours), 5))
    top.set_title("Temperature and air quality along the route (grey: altitude, the climb to Baguio)")
    _save(figure, path)
    return FigureFile(
        path.name,
        "Weather along the route",
        "Observations (weather_data) placed on the route by position: the air cools as the road climbs "
        "to Baguio (about 1,500 m) and is dirtiest in Metro Manila.",
    )


def incidents_by_type(data: ReportData, path: Path) -> FigureFile | None:
    counts = incident_counts(data.incidents)
    if not counts:
        return None
    figure = _new(7, 0.5 + 0.45 * len(counts) + 1)
    ax = figure.add_subplot()
    kinds = [kind.replace("_", " ") for kind, _ in counts]
    values = [n for _, n in counts]
    bars = ax.barh(kinds, values, color=[INCIDENT_STYLE.get(k, ("o", "#555"))[1] for k, _ in counts])
    ax.bar_label(bars, padding=3)
    ax.invert_yaxis()
    ax.set_xlabel("incidents")
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.set_title("Incidents by type")
    _save(figure, path)
    return FigureFile(path.name, "Incidents", "Distinct incidents (emergency_data, by incident_id) per type.")


# --- pipeline health -----------------------------------------------------------------------------------------------
def reconciliation_bars(data: ReportData, path: Path) -> FigureFile | None:
    rows = data.reconciliation
    if not rows:
        return None
    figure = _new(11, 1.2 + 0.9 * len(rows))
    ax = figure.add_subplot()
    series = {
        "produced": [r.produced for r in rows],
        "landed": [r.landed for r in rows],
        "quarantined": [r.quarantined for r in rows],
        "duplicates": [r.duplicates_dropped for r in rows],
    }
    height = 0.2
    y = np.arange(len(rows))
    for offset, (name, values) in enumerate(series.items()):
        bars = ax.barh(y + (offset - 1.5) * height, values, height, label=name, color=FLOW_COLOURS[name])
        ax.bar_label(bars, labels=[f"{v:,}" for v in values], padding=2, fontsize=7)
    ax.set_yticks(y, [r.stream + ("" if r.ok else "  ✗") for r in rows])
    for tick, row in zip(ax.get_yticklabels(), rows, strict=True):
        tick.set_color("#1a7f37" if row.ok else "#c62828")
    ax.invert_yaxis()
    _thousands(ax.xaxis)
    ax.set_xlabel("messages / rows")
    ax.legend(loc="lower right", fontsize=8)
    ax.set_title("Produced vs landed vs quarantined per stream (duplicates: dropped by the job's dedupe)")
    _save(figure, path)
    return FigureFile(
        path.name,
        "Reconciliation",
        "Messages the producer handed to Kafka against the rows Athena counts in the lake and its quarantine.",
    )


def streaming_health(data: ReportData, path: Path) -> FigureFile | None:
    batches = data.batches
    if not len(batches):
        return None
    busy = throughput(batches)
    figure = _new(11, 6.5)
    top, bottom = figure.subplots(2, 1, sharex=True)
    colours = _stream_colours(list(batches["stream"].unique()))
    style = {"marker": "o", "markersize": 3, "linewidth": 1}
    for stream, rows in busy.groupby("stream", sort=False):
        top.plot(rows["t_s"], rows["rows_per_s"], color=colours[stream], **style)
    for stream, colour in colours.items():
        rows = batches[batches["stream"] == stream]
        bottom.plot(rows["t_s"], rows["batch_duration_ms"] / 1000.0, color=colour, label=stream, **style)
    top.set_ylabel("rows / s (per batch)")
    _thousands(top.yaxis)
    bottom.set_ylabel("batch duration (s)")
    bottom.set_xlabel("seconds since the streaming job started")
    for ax in (top, bottom):
        ax.grid(color="#eee")
        ax.set_ylim(bottom=0)
    figure.legend(loc="outside lower center", ncols=len(colours), fontsize=8)
    top.set_title("Streaming job: throughput and batch latency over time")
    _save(figure, path)
    return FigureFile(
        path.name,
        "Streaming",
        "From the job's per-batch metrics: the rows a batch classified (valid + quarantined + duplicates) over "
        "its duration, and how long each micro-batch took end to end (read, validate, dedupe, write, commit).",
    )


def timings(data: ReportData, path: Path) -> FigureFile | None:
    crawled = [c for c in data.crawlers if c.last_runtime_s is not None]
    queries = data.queries[-MAX_QUERY_BARS:]
    if not crawled and not queries:
        return None
    panels = [p for p in (crawled, queries) if p]
    figure = _new(11, 1.0 + sum(0.35 * len(p) + 0.8 for p in panels))
    axes = figure.subplots(len(panels), 1, height_ratios=[len(p) + 1 for p in panels], squeeze=False)[:, 0]
    index = 0
    if crawled:
        ax = axes[index]
        index += 1
        bars = ax.barh(
            [c.name for c in crawled], [c.last_runtime_s or 0.0 for c in crawled], color="#4c72b0", height=0.6
        )
        ax.bar_label(bars, labels=[f"{c.last_runtime_s:.2f} s" for c in crawled], padding=3, fontsize=8)
        ax.invert_yaxis()
        ax.set_xlabel("last crawl (s)")
        ax.set_title("Glue crawlers")
    if queries:
        ax = axes[index]
        y = np.arange(len(queries))
        total = [q.total_ms / 1000.0 for q in queries]
        engine = [q.engine_ms / 1000.0 for q in queries]
        for source, (light, dark) in QUERY_COLOURS.items():
            mine = [i for i, q in enumerate(queries) if q.source == source]
            if not mine:
                continue
            bars = ax.barh(y[mine], [total[i] for i in mine], color=light, height=0.7, label=f"{source}: total")
            ax.barh(y[mine], [engine[i] for i in mine], color=dark, height=0.35, label=f"{source}: engine")
            ax.bar_label(bars, labels=[f"{total[i]:.2f} s" for i in mine], padding=3, fontsize=8)
        ax.set_yticks(y, [q.label for q in queries], fontsize=8)
        ax.invert_yaxis()
        ax.set_xlabel("seconds (total = queue + planning + engine)")
        ax.legend(fontsize=8, loc="lower right")
        ax.set_title("Athena queries: the pipeline's checks of this run and this report's own")
    _save(figure, path)
    return FigureFile(
        path.name,
        "Timings",
        "Last run of each lake crawler (GetCrawlerMetrics); the Athena queries the pipeline ran on the lake's "
        "database since the run started, and this report's own (QueryExecution statistics).",
    )


FIGURES: tuple[tuple[str, Callable[[ReportData, Path], FigureFile | None], str], ...] = (
    ("route.png", route_map, "journey"),
    ("speed.png", speed_over_time, "journey"),
    ("weather.png", weather_along_route, "journey"),
    ("incidents.png", incidents_by_type, "journey"),
    ("reconciliation.png", reconciliation_bars, "health"),
    ("streaming.png", streaming_health, "health"),
    ("timings.png", timings, "health"),
)


def draw_all(data: ReportData, out_dir: Path) -> dict[str, FigureFile]:
    """Every figure that has data, as ``name -> FigureFile``; stale PNGs of an earlier render are removed."""
    drawn = {}
    for name, draw, _section in FIGURES:
        path = out_dir / name
        path.unlink(missing_ok=True)
        figure = draw(data, path)
        if figure is not None:
            drawn[name] = figure
    return drawn
