"""Geometry of the route: distances along the polyline, positions, headings, places and traffic cameras."""

from __future__ import annotations

import math
import re
from bisect import bisect_right
from dataclasses import dataclass
from functools import cache

from producers.route_data import LEGS, Leg

# Cruising speed of each road class (km/h), before per-vehicle and per-moment variation: expressways
# (NLEX/SCTEX/TPLEX limits are 100 km/h), Metro Manila traffic, provincial roads, the climb to Baguio.
ROAD_SPEEDS_KMH: dict[str, float] = {
    "city": 25.0,
    "arterial": 40.0,
    "rural": 50.0,
    "expressway": 92.0,
    "mountain": 32.0,
}

EARTH_RADIUS_M = 6_371_008.8


def haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in metres."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(math.sqrt(a))


def bearing_deg(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Initial course from the first point to the second, clockwise from true north, in [0, 360)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dl = math.radians(lon2 - lon1)
    y = math.sin(dl) * math.cos(p2)
    x = math.cos(p1) * math.sin(p2) - math.sin(p1) * math.cos(p2) * math.cos(dl)
    return math.degrees(math.atan2(y, x)) % 360.0


@dataclass(frozen=True, slots=True)
class Camera:
    camera_id: str
    distance_m: float
    latitude: float
    longitude: float
    location: str


class Route:
    """The polyline with cumulative distances; segment ``i`` runs from point ``i`` to point ``i + 1``.

    Attributes are plain lists so the simulator's hot loop can index them directly.
    """

    def __init__(self, legs: tuple[Leg, ...] = LEGS) -> None:
        self.lat: list[float] = []
        self.lon: list[float] = []
        self.alt: list[float] = []
        names: list[str] = []
        point_road: list[str] = []
        point_class: list[str] = []
        for leg in legs:
            for lat, lon, alt, place in leg.points:
                self.lat.append(lat)
                self.lon.append(lon)
                self.alt.append(float(alt))
                names.append(place)
                point_road.append(leg.road)
                point_class.append(leg.road_class)
        if len(self.lat) < 2:
            raise ValueError("a route needs at least two points")
        self.cum: list[float] = [0.0]
        for i in range(1, len(self.lat)):
            step = haversine_m(self.lat[i - 1], self.lon[i - 1], self.lat[i], self.lon[i])
            self.cum.append(self.cum[-1] + step)
        segments = range(len(self.lat) - 1)
        # A segment belongs to the road of the point it leads to (the first point of a leg is its start).
        self.road: list[str] = [point_road[i + 1] for i in segments]
        self.road_class: list[str] = [point_class[i + 1] for i in segments]
        self.heading: list[float] = [
            bearing_deg(self.lat[i], self.lon[i], self.lat[i + 1], self.lon[i + 1]) for i in segments
        ]
        self.place: list[str] = self._nearest_places(names)

    @property
    def length_m(self) -> float:
        return self.cum[-1]

    @property
    def points(self) -> int:
        return len(self.lat)

    def segment_at(self, distance_m: float) -> int:
        """Index of the segment containing ``distance_m`` (clamped to the route)."""
        return min(max(bisect_right(self.cum, distance_m) - 1, 0), len(self.cum) - 2)

    def position(self, distance_m: float) -> tuple[float, float, float, int]:
        """(latitude, longitude, altitude_m, segment) at ``distance_m`` along the route."""
        i = self.segment_at(distance_m)
        start, end = self.cum[i], self.cum[i + 1]
        f = (distance_m - start) / (end - start) if end > start else 0.0
        f = min(max(f, 0.0), 1.0)
        return (
            self.lat[i] + (self.lat[i + 1] - self.lat[i]) * f,
            self.lon[i] + (self.lon[i + 1] - self.lon[i]) * f,
            self.alt[i] + (self.alt[i + 1] - self.alt[i]) * f,
            i,
        )

    def cameras(self, spacing_m: float) -> list[Camera]:
        """Roadside cameras every ``spacing_m``, the first half a spacing after the start."""
        cameras = []
        distance = spacing_m / 2
        while distance < self.length_m:
            lat, lon, _alt, seg = self.position(distance)
            number = len(cameras) + 1
            cameras.append(
                Camera(
                    camera_id=f"cam-{_slug(self.road[seg])}-{number:03d}",
                    distance_m=distance,
                    latitude=round(lat, 6),
                    longitude=round(lon, 6),
                    location=f"{self.road[seg]}, {self.place[seg]}",
                )
            )
            distance += spacing_m
        return cameras

    def _nearest_places(self, names: list[str]) -> list[str]:
        """For each segment, the named point nearest to its midpoint along the route."""
        named = [(self.cum[i], name) for i, name in enumerate(names) if name]
        if not named:
            raise ValueError("a route needs at least one named place")
        places = []
        for i in range(len(self.lat) - 1):
            middle = (self.cum[i] + self.cum[i + 1]) / 2
            places.append(min(named, key=lambda item: abs(item[0] - middle))[1])
        return places


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


@cache
def default_route() -> Route:
    """The embedded Antipolo → Baguio route (built once per process)."""
    return Route()
