"""The journey simulator: valid, deterministic, physically consistent, lazy."""

from __future__ import annotations

import hashlib
import itertools
import os
import statistics
import subprocess
import sys
import tracemalloc
import uuid
from collections import defaultdict
from datetime import UTC, datetime, timedelta, timezone

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from producers.route import default_route, haversine_m
from producers.simulator import MAX_SPEED_KMH, EventClock, SimConfig, simulate, uuid4_from
from smartcity.contracts.model import parse_timestamp
from smartcity.contracts.records import CONTRACTS

START = datetime(2025, 3, 1, 6, 0, tzinfo=UTC)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
BAGUIO = (16.4023, 120.5960)
ANTIPOLO = (14.5873, 121.1759)


def journey(**overrides) -> list[tuple[int, str, dict]]:
    config = SimConfig(**{"vehicles": 3, "seed": 11, "start_time": START, **overrides})
    return list(simulate(config))


def by_vehicle(events, stream):
    tracks = defaultdict(list)
    for _ms, event_stream, record in events:
        if event_stream == stream:
            tracks[record["vehicle_id"]].append(record)
    return tracks


def ts(record) -> datetime:
    return parse_timestamp(record["event_time"])


@pytest.fixture(scope="module")
def default_journey():
    return journey()


def test_every_stream_is_emitted_and_every_record_validates(default_journey):
    streams = {stream for _ms, stream, _record in default_journey}
    assert streams == set(CONTRACTS)
    invalid = [
        (stream, record, CONTRACTS[stream].validate(record))
        for _ms, stream, record in default_journey
        if CONTRACTS[stream].validate(record)
    ]
    assert invalid == []


@settings(max_examples=12, deadline=None)
@given(
    vehicles=st.integers(1, 4),
    seed=st.integers(0, 2**32),
    cadence=st.fixed_dictionaries(
        {"vehicle_data": st.floats(1, 600), "gps_data": st.floats(1, 600), "weather_data": st.floats(1, 900)}
    ),
    camera_spacing_km=st.floats(0.5, 50),
    emergency_rate=st.floats(0, 5),
    start=st.datetimes(datetime(2000, 1, 1), datetime(2090, 12, 31), timezones=st.just(UTC)),
)
def test_any_configuration_yields_only_valid_records(vehicles, seed, cadence, camera_spacing_km, emergency_rate, start):
    config = SimConfig(
        vehicles=vehicles,
        seed=seed,
        start_time=start,
        cadence_s=cadence,
        camera_spacing_km=camera_spacing_km,
        emergency_rate_per_hour=emergency_rate,
    )
    count = 0
    for _ms, stream, record in itertools.islice(simulate(config), 3_000):
        assert CONTRACTS[stream].validate(record) == [], (stream, record)
        count += 1
    assert count > 0


def test_same_seed_gives_byte_identical_records_and_another_seed_does_not(default_journey):
    again = journey()
    assert [orjson.dumps(r) for _m, _s, r in again] == [orjson.dumps(r) for _m, _s, r in default_journey]
    other = journey(seed=12)
    assert [orjson.dumps(r) for _m, _s, r in other[:50]] != [orjson.dumps(r) for _m, _s, r in default_journey[:50]]


def test_event_time_matches_the_yielded_time_and_ids_are_unique(default_journey):
    for time_ms, _stream, record in default_journey:
        assert ts(record) == EPOCH + timedelta(milliseconds=time_ms)
    ids = [record["event_id"] for _m, _s, record in default_journey]
    assert len(set(ids)) == len(ids)


def test_each_vehicle_drives_from_antipolo_to_baguio(default_journey):
    tracks = by_vehicle(default_journey, "vehicle_data")
    assert len(tracks) == 3
    for records in tracks.values():
        first, last = records[0], records[-1]
        assert haversine_m(first["latitude"], first["longitude"], *ANTIPOLO) < 2_000
        assert haversine_m(last["latitude"], last["longitude"], *BAGUIO) < 2_000
        hours = (ts(last) - ts(first)).total_seconds() / 3600
        assert 2.5 < hours < 6  # about 250 km with city traffic and a mountain climb


def test_no_teleporting_steps_agree_with_speed_and_time():
    # one cadence and no incidents: each vehicle_data record is one position update after the previous one
    same_cadence = {"vehicle_data": 30, "gps_data": 30, "weather_data": 30}
    events = journey(emergency_rate_per_hour=0, vehicles=2, cadence_s=same_cadence)
    for records in by_vehicle(events, "vehicle_data").values():
        for before, after in itertools.pairwise(records):
            seconds = (ts(after) - ts(before)).total_seconds()
            step = haversine_m(before["latitude"], before["longitude"], after["latitude"], after["longitude"])
            # straight-line step <= distance driven at the reported speed (+ rounding of positions and speed)
            assert step <= (after["speed_kmh"] + 0.05) / 3.6 * seconds + 0.5
            assert after["speed_kmh"] <= MAX_SPEED_KMH
        speeds = [record["speed_kmh"] for record in records[1:-1]]
        assert max(speeds) > 70  # expressways
        assert min(speeds) < 45  # city and mountain


def test_gps_and_vehicle_records_of_one_tick_agree(default_journey):
    vehicles = {(r["vehicle_id"], r["event_time"]): r for _m, s, r in default_journey if s == "vehicle_data"}
    matched = 0
    for _m, stream, gps in default_journey:
        if stream != "gps_data":
            continue
        vehicle = vehicles.get((gps["vehicle_id"], gps["event_time"]))
        if vehicle is not None:
            matched += 1
            for name in ("latitude", "longitude", "speed_kmh", "heading_deg", "direction"):
                assert gps[name] == vehicle[name]
    assert matched > 100


def test_departures_are_staggered_and_makes_models_distinct():
    events = journey(vehicles=6, departure_interval_s=300)
    tracks = by_vehicle(events, "vehicle_data")
    departures = sorted(ts(records[0]) for records in tracks.values())
    assert all(later - earlier >= timedelta(seconds=240) for earlier, later in itertools.pairwise(departures))
    assert len({(records[0]["make"], records[0]["model"]) for records in tracks.values()}) == 6


def test_weather_is_cooler_wetter_and_foggier_up_the_mountain(default_journey):
    weather = [record for _m, stream, record in default_journey if stream == "weather_data"]
    high = [r for r in weather if r["altitude_m"] > 1_000]
    low = [r for r in weather if r["altitude_m"] < 100]
    assert len(high) > 10 and len(low) > 100
    assert statistics.mean(r["temperature_c"] for r in low) - statistics.mean(r["temperature_c"] for r in high) > 5
    assert statistics.mean(r["humidity_pct"] for r in high) > statistics.mean(r["humidity_pct"] for r in low)
    assert all(r["altitude_m"] > 700 for r in weather if r["weather_condition"] == "fog")


def test_every_vehicle_passes_every_camera_once_in_order(default_journey):
    cameras = default_route().cameras(5_000)
    for records in by_vehicle(default_journey, "traffic_data").values():
        assert [r["camera_id"] for r in records] == [camera.camera_id for camera in cameras]
        assert all(ts(a) < ts(b) for a, b in itertools.pairwise(records))
        for record in records:
            assert record["snapshot_uri"].startswith("s3://urban-city-pipeline/snapshots/" + record["camera_id"])
            assert record["snapshot_uri"].endswith(f"/{record['event_id']}.jpg")


def test_incidents_go_reported_responding_resolved():
    events = journey(emergency_rate_per_hour=3, vehicles=2)
    incidents = defaultdict(list)
    for _m, stream, record in events:
        if stream == "emergency_data":
            incidents[record["incident_id"]].append(record)
    assert len(incidents) >= 5
    # help arrives within minutes and the road clears within the hour, typically
    to_resolve = [(ts(records[-1]) - ts(records[0])).total_seconds() for records in incidents.values()]
    assert 5 * 60 < statistics.median(to_resolve) < 2 * 3600
    for records in incidents.values():
        assert [r["status"] for r in records] == ["reported", "responding", "resolved"]
        assert ts(records[0]) <= ts(records[1]) <= ts(records[2])
        assert len({(r["latitude"], r["longitude"], r["incident_type"]) for r in records}) == 1


def test_streams_subset_only_emits_those_streams():
    events = journey(streams=("gps_data", "emergency_data"), emergency_rate_per_hour=2)
    assert {stream for _m, stream, _r in events} == {"gps_data", "emergency_data"}


def test_generation_is_lazy_and_memory_stays_flat():
    config = SimConfig(vehicles=20, seed=1, start_time=START)

    def peak_after(count: int) -> int:
        tracemalloc.start()
        for _ in itertools.islice(simulate(config), count):
            pass
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        return peak

    peak_after(1)  # build the process-wide caches (timestamp table, route) outside the comparison
    small, large = peak_after(3_000), peak_after(15_000)
    assert large < small * 1.2 + 100_000  # 5x the events, about the same memory


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"vehicles": 0}, "greater than or equal to 1"),
        ({"cadence_s": {"traffic_data": 5}}, "cadence only applies to"),
        ({"cadence_s": {"gps_data": 0}}, "between 0.1 and 86400"),
        ({"streams": ("gps", "vehicle_data")}, "unknown stream"),
        ({"start_time": datetime(2025, 1, 1)}, "timezone"),
    ],
)
def test_invalid_configuration_is_refused_with_a_clear_message(overrides, message):
    with pytest.raises(ValidationError, match=message):
        SimConfig(**{"start_time": START, **overrides})


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 4_102_444_800_000))  # 1970 .. 2100
def test_event_clock_matches_datetime(epoch_ms):
    clock = EventClock()
    expected = (EPOCH + timedelta(milliseconds=epoch_ms)).isoformat(timespec="milliseconds")
    assert clock.iso(epoch_ms) == expected.replace("+00:00", "Z")
    assert clock.iso(epoch_ms) == clock.iso(epoch_ms)


@given(st.integers(0, 2**128 - 1))
def test_uuid4_from_random_bits_is_a_version_4_uuid(bits):
    text = uuid4_from(bits)
    parsed = uuid.UUID(text)
    assert str(parsed) == text
    assert parsed.version == 4
    assert parsed.variant == uuid.RFC_4122


def test_start_time_in_any_zone_gives_utc_event_times():
    manila = timezone(timedelta(hours=8))
    config = SimConfig(vehicles=1, seed=1, start_time=datetime(2025, 3, 1, 14, 0, tzinfo=manila))
    _ms, _stream, first = next(simulate(config))
    assert first["event_time"] == "2025-03-01T06:00:00.000Z"


def test_records_are_identical_across_processes():
    """No dependence on hash randomisation or process state: a fresh interpreter yields the same bytes."""
    script = (
        "import hashlib, itertools, orjson; from datetime import datetime, UTC;"
        "from producers.simulator import SimConfig, simulate;"
        "c = SimConfig(vehicles=3, seed=11, start_time=datetime(2025, 3, 1, 6, tzinfo=UTC));"
        "h = hashlib.sha256();"
        "[h.update(orjson.dumps(r)) for _m, _s, r in itertools.islice(simulate(c), 3000)];"
        "print(h.hexdigest())"
    )
    digests = {
        subprocess.run(
            [sys.executable, "-c", script],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "PYTHONHASHSEED": hash_seed},
        ).stdout.strip()
        for hash_seed in ("1", "2")
    }
    here = hashlib.sha256()
    for _m, _s, record in itertools.islice(simulate(SimConfig(vehicles=3, seed=11, start_time=START)), 3000):
        here.update(orjson.dumps(record))
    assert digests == {here.hexdigest()}
