"""The journey simulator: a pure, deterministic, lazy stream of contract records.

``simulate(config)`` yields ``(time_ms, stream, record)`` in journey-time order of scheduling (see below),
one event at a time; nothing about the journey is materialised, so memory is O(vehicles). Records are
plain dicts in contract field order, valid against ``smartcity.contracts.records`` (the test suite checks
every one). The output is a function of the config alone: same config (seed and start time included) →
byte-identical records. No I/O happens here; the producer renders and uploads camera snapshots.

Model:
* Each vehicle departs from Antipolo at its staggered time and drives the polyline at a speed set by the
  road class (city, arterial, expressway, mountain...), its driver's pace and a little noise. Between two
  updates the speed is constant, so position, speed and elapsed time agree; heading is the course of the
  current polyline segment. The vehicle stops at Baguio and its streams end.
* vehicle_data, gps_data and weather_data are periodic per vehicle (cadence ±10 % jitter); streams with the
  same cadence are emitted together at one position update.
* traffic_data: a camera every ``camera_spacing_km``; an event when a vehicle passes one, timed by
  interpolating between the vehicle's updates (so it may be a few seconds older than the event before it).
* emergency_data: incidents occur as a Poisson process per vehicle; each incident emits ``reported``, then
  ``responding`` and ``resolved`` after exponential delays, at the incident's position.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from functools import cache
from itertools import count
from math import floor
from random import Random
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from producers.fleet import Vehicle, build_fleet
from producers.route import ROAD_SPEEDS_KMH, Camera, Route, default_route
from producers.weather import next_wetness, observe
from smartcity.contracts.records import (
    CONTRACTS,
    EMERGENCY,
    GPS,
    TRAFFIC,
    VEHICLE,
    WEATHER,
)

PERIODIC_STREAMS = (VEHICLE.stream, GPS.stream, WEATHER.stream)
DEFAULT_CADENCE_S = {VEHICLE.stream: 30.0, GPS.stream: 30.0, WEATHER.stream: 60.0}

MIN_SPEED_KMH = 5.0
MAX_SPEED_KMH = 130.0  # no vehicle ever exceeds this (test bound for "no teleporting")
SPEED_NOISE = 0.08  # relative standard deviation of speed around the cruising speed
CADENCE_JITTER = 0.10

INCIDENT_DESCRIPTIONS = {
    "accident": "collision involving {n} vehicles, one lane blocked",
    "road_block": "road partially blocked by debris, expect delays",
    "medical": "motorist needs medical assistance on the shoulder",
    "fire": "vehicle fire reported on the shoulder",
    "police": "police checkpoint, traffic slowing",
    "flood": "water over the road, passable to high vehicles only",
    "landslide": "landslide, single-lane traffic",
}
INCIDENT_WEIGHTS = {  # keys: smartcity.contracts.records.INCIDENT_TYPES
    "accident": 30,
    "road_block": 20,
    "medical": 15,
    "fire": 5,
    "police": 20,
    "flood": 5,
    "landslide": 5,
}
MEAN_RESPONSE_S = 6 * 60.0
MEAN_RESOLUTION_S = 25 * 60.0

# Heap entry kinds below _INCIDENT are tick groups: periodic streams sharing a cadence share a tick
# (one heap operation and one position update for all of them).
_INCIDENT, _STATUS = 1_000, 1_001
_FINAL = "final"


class SimConfig(BaseModel):
    """Everything the journey depends on."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    vehicles: int = Field(default=5, ge=1, le=1_000_000, description="fleet size")
    seed: int = Field(default=0, description="random seed; same config → byte-identical records")
    start_time: AwareDatetime = Field(description="journey start (the first departure)")
    departure_interval_s: float = Field(default=120.0, ge=0, description="time between departures")
    cadence_s: dict[str, float] = Field(
        default_factory=lambda: dict(DEFAULT_CADENCE_S), description="seconds between periodic events"
    )
    camera_spacing_km: float = Field(default=5.0, ge=0.2, le=100.0, description="distance between cameras")
    emergency_rate_per_hour: float = Field(
        default=0.2, ge=0, le=60, description="incidents per vehicle per hour of driving (Poisson)"
    )
    streams: tuple[str, ...] = Field(default=tuple(CONTRACTS), description="streams to emit")
    images_bucket: str = Field(default="urban-city-pipeline", min_length=3, max_length=63)

    @field_validator("cadence_s")
    @classmethod
    def _cadences(cls, value: dict[str, float]) -> dict[str, float]:
        unknown = sorted(set(value) - set(PERIODIC_STREAMS))
        if unknown:
            raise ValueError(f"cadence only applies to {', '.join(PERIODIC_STREAMS)}; not to {', '.join(unknown)}")
        for stream, seconds in value.items():
            if not 0.1 <= seconds <= 86_400:
                raise ValueError(f"cadence of {stream} must be between 0.1 and 86400 s, got {seconds}")
        return {**DEFAULT_CADENCE_S, **value}

    @field_validator("streams")
    @classmethod
    def _streams(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [stream for stream in value if stream not in CONTRACTS]
        if unknown:
            raise ValueError(f"unknown stream(s) {', '.join(unknown)}; known: {', '.join(CONTRACTS)}")
        if not value:
            raise ValueError("at least one stream is needed")
        return tuple(stream for stream in CONTRACTS if stream in value)

    @field_validator("start_time")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        return value.astimezone(UTC)


@cache
def _seconds_and_millis() -> tuple[str, ...]:
    """``"SS.mmmZ"`` for every millisecond of a minute (60,000 short strings, built once)."""
    return tuple(f"{ms // 1000:02d}.{ms % 1000:03d}Z" for ms in range(60_000))


class EventClock:
    """Epoch milliseconds → ISO-8601 UTC strings (``2025-03-01T06:00:00.000Z``), fast and exact.

    Caches the ``YYYY-MM-DDTHH:MM:`` prefix of the last minute seen (the simulator's times are almost
    monotonic, so nearly every call hits it) and looks the rest up in a table: one divmod and one
    concatenation per timestamp.
    """

    __slots__ = ("_minute", "_prefix", "_rest")

    def __init__(self) -> None:
        self._minute = -1
        self._prefix = ""
        self._rest = _seconds_and_millis()

    def iso(self, epoch_ms: int) -> str:
        minute, ms = divmod(epoch_ms, 60_000)
        if minute != self._minute:
            self._minute = minute
            moment = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(minutes=minute)
            self._prefix = moment.strftime("%Y-%m-%dT%H:%M:")
        return self._prefix + self._rest[ms]


_UUID_VERSION_MASK = ~(0xF000 << 64) & ~(0xC000 << 48) & ((1 << 128) - 1)
_UUID_VERSION_4 = (0x4000 << 64) | (0x8000 << 48)


def uuid4_from(bits: int) -> str:
    """A random (version 4, RFC 4122 variant) UUID string from 128 random bits; much faster than uuid.UUID."""
    h = f"{(bits & _UUID_VERSION_MASK) | _UUID_VERSION_4:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


_COMPASS = ("N", "NE", "E", "SE", "S", "SW", "W", "NW")


def compass_point(heading_deg: float) -> str:
    return _COMPASS[int((heading_deg + 22.5) // 45.0) % 8]


class _Driving:
    """Mutable state of one vehicle on the road (position values are kept rounded as they are sent)."""

    __slots__ = (
        "alt",
        "arrived",
        "distance",
        "id_prefix",
        "ids",
        "kmh",
        "last_ms",
        "lat",
        "lon",
        "next_camera",
        "rng",
        "seg",
        "speed_mpms",
        "vehicle",
        "wetness",
    )

    def __init__(self, vehicle: Vehicle, rng: Random, route: Route, depart_ms: int) -> None:
        self.vehicle = vehicle
        self.rng = rng
        # Event ids: a random UUID-v4 prefix per vehicle and the vehicle's event counter as the last 48
        # bits, so ids are unique and deterministic and cost one formatting each.
        self.id_prefix = uuid4_from(rng.getrandbits(128))[:24]
        self.ids = 0
        self.distance = 0.0
        self.last_ms = depart_ms
        self.seg = 0
        self.lat, self.lon, self.alt = route.lat[0], route.lon[0], route.alt[0]
        self.kmh = 0.0  # average speed over the last interval, as reported
        self.speed_mpms = 0.0  # metres per millisecond for the coming interval
        self.next_camera = 0
        self.arrived = False
        self.wetness = 0.2

    def event_id(self) -> str:
        self.ids += 1
        return f"{self.id_prefix}{self.ids:012x}"


class _Journey:
    """Moves vehicles along the route. Kept apart from ``simulate`` so the hot loop stays readable."""

    def __init__(self, route: Route, cameras: list[Camera]) -> None:
        self.route = route
        self.cameras = cameras
        self.camera_distance = [camera.distance_m for camera in cameras]
        self.last_segment = len(route.cum) - 2
        # relative uniform noise with standard deviation SPEED_NOISE: cheaper than gauss, same spread
        self.noise = SPEED_NOISE * math.sqrt(12.0)
        self.cruise_kmh = [ROAD_SPEEDS_KMH[road_class] for road_class in route.road_class]

    def choose_speed(self, state: _Driving) -> None:
        """Pick the speed for the next interval from the road class, the driver's pace and some noise."""
        kmh = self.cruise_kmh[state.seg] * state.vehicle.pace * (1.0 + self.noise * (state.rng.random() - 0.5))
        kmh = MIN_SPEED_KMH if kmh < MIN_SPEED_KMH else MAX_SPEED_KMH if kmh > MAX_SPEED_KMH else kmh
        state.speed_mpms = kmh / 3_600.0  # km/h → m/ms

    def advance(self, state: _Driving, now: int) -> list[tuple[int, Camera]] | None:
        """Move ``state`` to ``now``; return the cameras passed on the way, with the time of passing."""
        dt = now - state.last_ms
        if dt <= 0:
            return None
        before = state.distance
        after = before + state.speed_mpms * dt
        cum = self.route.cum
        if after >= cum[-1]:
            after = cum[-1]
            state.arrived = True
        state.kmh = floor((after - before) / dt * 36_000.0 + 0.5) / 10.0  # km/h, one decimal
        passed = None
        camera_distance = self.camera_distance
        while state.next_camera < len(camera_distance) and camera_distance[state.next_camera] <= after:
            at = state.last_ms + int((camera_distance[state.next_camera] - before) / (after - before) * dt)
            passed = passed or []
            passed.append((at, self.cameras[state.next_camera]))
            state.next_camera += 1
        state.distance = after
        state.last_ms = now
        seg = state.seg
        while seg < self.last_segment and cum[seg + 1] <= after:
            seg += 1
        state.seg = seg
        span = cum[seg + 1] - cum[seg]
        f = (after - cum[seg]) / span if span > 0 else 0.0
        f = 1.0 if f > 1.0 else f
        lat, lon, alt = self.route.lat, self.route.lon, self.route.alt
        state.lat = floor((lat[seg] + (lat[seg + 1] - lat[seg]) * f) * 1e6 + 0.5) / 1e6  # ~0.1 m
        state.lon = floor((lon[seg] + (lon[seg + 1] - lon[seg]) * f) * 1e6 + 0.5) / 1e6
        state.alt = alt[seg] + (alt[seg + 1] - alt[seg]) * f
        if state.arrived:
            state.speed_mpms = 0.0
        else:
            self.choose_speed(state)
        return passed


def tick_groups(config: SimConfig) -> list[tuple[float, tuple[str, ...]]]:
    """(cadence in ms, periodic streams) per distinct cadence, in stream order."""
    groups: dict[float, list[str]] = {}
    for stream in PERIODIC_STREAMS:
        groups.setdefault(config.cadence_s[stream] * 1000.0, []).append(stream)
    return [(cadence, tuple(streams)) for cadence, streams in groups.items()]


def simulate(config: SimConfig, route: Route | None = None) -> Iterator[tuple[int, str, dict[str, Any]]]:
    """Yield ``(epoch_ms, stream, record)`` for the whole journey, lazily."""
    route = route or default_route()
    start_ms = int(config.start_time.timestamp() * 1000)
    iso = EventClock().iso
    wanted = set(config.streams)
    groups = tick_groups(config)
    group_cadence = [cadence for cadence, _streams in groups]
    # per group: (emit vehicle_data, emit gps_data, update weather, emit weather_data)
    group_plan = [
        (
            VEHICLE.stream in streams and VEHICLE.stream in wanted,
            GPS.stream in streams and GPS.stream in wanted,
            WEATHER.stream in streams,
            WEATHER.stream in streams and WEATHER.stream in wanted,
        )
        for _cadence, streams in groups
    ]
    want_traffic, want_emergency = TRAFFIC.stream in wanted, EMERGENCY.stream in wanted

    fleet = build_fleet(config.vehicles, int(config.departure_interval_s * 1000), Random(f"{config.seed}/fleet"))
    journey = _Journey(route, route.cameras(config.camera_spacing_km * 1000))
    advance = journey.advance
    heading = [round(value, 1) for value in route.heading]
    direction = [compass_point(value) for value in route.heading]
    place = route.place
    incident_rate_per_ms = config.emergency_rate_per_hour / 3_600_000
    incident_types = list(INCIDENT_WEIGHTS)
    incident_weights = list(INCIDENT_WEIGHTS.values())
    snapshot_prefix = f"s3://{config.images_bucket}/snapshots/"
    vehicle_version, gps_version = VEHICLE.schema_version, GPS.schema_version
    weather_version, traffic_version = WEATHER.schema_version, TRAFFIC.schema_version
    vehicle_stream, gps_stream, weather_stream = VEHICLE.stream, GPS.stream, WEATHER.stream
    traffic_stream, emergency_stream = TRAFFIC.stream, EMERGENCY.stream

    sequence = count()
    heap: list[tuple[int, int, int, int, Any]] = []
    states: list[_Driving] = []
    for index, vehicle in enumerate(fleet):
        rng = Random(f"{config.seed}/vehicle/{vehicle.vehicle_id}")
        depart = start_ms + vehicle.departure_offset_ms
        state = _Driving(vehicle, rng, route, depart)
        journey.choose_speed(state)
        states.append(state)
        for group in range(len(groups)):
            heap.append((depart, index, group, next(sequence), None))
        if incident_rate_per_ms > 0:
            first = depart + _exponential_ms(rng, incident_rate_per_ms)
            heap.append((first, index, _INCIDENT, next(sequence), None))
    heapq.heapify(heap)
    heappop, heappush = heapq.heappop, heapq.heappush

    while heap:
        now, index, kind, _seq, payload = heappop(heap)
        state = states[index]
        vehicle = state.vehicle
        rng = state.rng

        if kind == _STATUS:
            status, incident = payload
            if want_emergency:
                yield now, emergency_stream, _incident_record(incident, status, now, iso, state)
            if status == "responding":
                later = now + _exponential_ms(rng, 1 / (MEAN_RESOLUTION_S * 1000))
                heappush(heap, (later, index, _STATUS, next(sequence), ("resolved", incident)))
            continue

        if state.arrived:
            if payload is not _FINAL:
                continue  # a vehicle's streams end at Baguio
        else:
            passed = advance(state, now)
            if passed is not None and want_traffic:
                for at, camera in passed:
                    event_id = state.event_id()
                    event_time = iso(at)
                    yield (
                        at,
                        traffic_stream,
                        {
                            "event_id": event_id,
                            "vehicle_id": vehicle.vehicle_id,
                            "event_time": event_time,
                            "schema_version": traffic_version,
                            "camera_id": camera.camera_id,
                            "latitude": camera.latitude,
                            "longitude": camera.longitude,
                            "location": camera.location,
                            "snapshot_uri": f"{snapshot_prefix}{camera.camera_id}/{event_time[:10]}/{event_id}.jpg",
                        },
                    )
            if state.arrived:  # every periodic stream reports the arrival at Baguio
                for group in range(len(groups)):
                    if group != kind:
                        heappush(heap, (now, index, group, next(sequence), _FINAL))

        if kind == _INCIDENT:
            incident_type = rng.choices(incident_types, incident_weights)[0]
            incident = (
                uuid4_from(rng.getrandbits(128)),
                incident_type,
                state.lat,
                state.lon,
                place[state.seg],
                INCIDENT_DESCRIPTIONS[incident_type].format(n=rng.randint(2, 4)),
            )
            if want_emergency:
                yield now, emergency_stream, _incident_record(incident, "reported", now, iso, state)
            responding = now + _exponential_ms(rng, 1 / (MEAN_RESPONSE_S * 1000))
            heappush(heap, (responding, index, _STATUS, next(sequence), ("responding", incident)))
            if not state.arrived:
                following = now + max(1, _exponential_ms(rng, incident_rate_per_ms))
                heappush(heap, (following, index, _INCIDENT, next(sequence), None))
            continue

        # a tick of periodic streams
        emit_vehicle, emit_gps, update_weather, emit_weather = group_plan[kind]
        seg = state.seg
        event_time = iso(now)
        if emit_vehicle:
            model = vehicle.model
            yield (
                now,
                vehicle_stream,
                {
                    "event_id": state.event_id(),
                    "vehicle_id": vehicle.vehicle_id,
                    "event_time": event_time,
                    "schema_version": vehicle_version,
                    "latitude": state.lat,
                    "longitude": state.lon,
                    "speed_kmh": state.kmh,
                    "heading_deg": heading[seg],
                    "direction": direction[seg],
                    "make": model.make,
                    "model": model.model,
                    "year": vehicle.year,
                    "fuel_type": model.fuel_type,
                },
            )
        if emit_gps:
            yield (
                now,
                gps_stream,
                {
                    "event_id": state.event_id(),
                    "vehicle_id": vehicle.vehicle_id,
                    "event_time": event_time,
                    "schema_version": gps_version,
                    "latitude": state.lat,
                    "longitude": state.lon,
                    "speed_kmh": state.kmh,
                    "heading_deg": heading[seg],
                    "direction": direction[seg],
                    "vehicle_type": vehicle.model.vehicle_type,
                    "accuracy_m": floor(25.5 + 75.0 * rng.random()) / 10.0,
                },
            )
        if update_weather:
            state.wetness = next_wetness(state.wetness, state.alt, rng)
            temperature, condition, precipitation, wind, humidity, aqi = observe(
                state.wetness, state.lat, state.lon, state.alt, (now % 86_400_000) / 3_600_000, rng
            )
            if emit_weather:
                yield (
                    now,
                    weather_stream,
                    {
                        "event_id": state.event_id(),
                        "vehicle_id": vehicle.vehicle_id,
                        "event_time": event_time,
                        "schema_version": weather_version,
                        "latitude": state.lat,
                        "longitude": state.lon,
                        "location": place[seg],
                        "altitude_m": floor(state.alt * 10.0 + 0.5) / 10.0,
                        "temperature_c": temperature,
                        "weather_condition": condition,
                        "precipitation_mm": precipitation,
                        "wind_speed_kmh": wind,
                        "humidity_pct": humidity,
                        "air_quality_index": aqi,
                    },
                )
        if not state.arrived:
            gap = group_cadence[kind] * (1.0 + CADENCE_JITTER * (2.0 * rng.random() - 1.0))
            heappush(heap, (now + max(1, int(gap)), index, kind, next(sequence), None))


_LONGEST_WAIT_MS = 100 * 365 * 86_400_000  # a century: "never" for a journey, still a valid timestamp


def _exponential_ms(rng: Random, rate_per_ms: float) -> int:
    """An exponential waiting time in ms (Poisson process), capped so tiny rates cannot overflow."""
    return int(min(rng.expovariate(rate_per_ms), _LONGEST_WAIT_MS))


def _incident_record(
    incident: tuple[str, str, float, float, str, str], status: str, now: int, iso: Any, state: _Driving
) -> dict[str, Any]:
    incident_id, incident_type, lat, lon, location, description = incident
    return {
        "event_id": state.event_id(),
        "vehicle_id": state.vehicle.vehicle_id,
        "event_time": iso(now),
        "schema_version": EMERGENCY.schema_version,
        "incident_id": incident_id,
        "incident_type": incident_type,
        "latitude": lat,
        "longitude": lon,
        "location": location,
        "status": status,
        "description": description,
    }


def journey_estimate_s(route: Route | None = None) -> float:
    """Journey time of a vehicle at cruising speeds (for progress estimates)."""
    route = route or default_route()
    return sum(
        (route.cum[i + 1] - route.cum[i]) / (ROAD_SPEEDS_KMH[route.road_class[i]] / 3.6)
        for i in range(len(route.cum) - 1)
    )


def estimate_events(config: SimConfig, route: Route | None = None) -> int:
    """Rough number of events a full journey yields (progress bar total; not a bound)."""
    route = route or default_route()
    journey_s = journey_estimate_s(route)
    per_vehicle = 0.0
    for stream in config.streams:
        if stream in config.cadence_s:
            per_vehicle += journey_s / config.cadence_s[stream] + 1
    if TRAFFIC.stream in config.streams:
        per_vehicle += route.length_m / (config.camera_spacing_km * 1000)
    if EMERGENCY.stream in config.streams:
        per_vehicle += 3 * config.emergency_rate_per_hour * journey_s / 3600
    return math.ceil(per_vehicle * config.vehicles)


def utc_now_seconds() -> datetime:
    """Now, in UTC, truncated to the second (the default journey start)."""
    return datetime.now(UTC).replace(microsecond=0)
