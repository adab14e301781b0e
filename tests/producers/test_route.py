"""The embedded route follows real roads from Antipolo to Baguio."""

from __future__ import annotations

import itertools

import pytest

from producers.route import ROAD_SPEEDS_KMH, Route, bearing_deg, default_route, haversine_m
from producers.route_data import LEGS

# Town centres, from any map (independent of the route data).
ANTIPOLO = (14.5873, 121.1759)
BAGUIO = (16.4023, 120.5960)
SAN_FERNANDO_PAMPANGA = (15.0286, 120.6898)
TARLAC_CITY = (15.4755, 120.5963)


def test_haversine_and_bearing_against_known_values():
    # one degree of latitude is about 111.2 km; due north is 0°, due east about 90°
    assert haversine_m(14.0, 121.0, 15.0, 121.0) == pytest.approx(111_195, rel=1e-3)
    assert bearing_deg(14.0, 121.0, 15.0, 121.0) == pytest.approx(0.0, abs=1e-9)
    assert bearing_deg(14.0, 121.0, 14.0, 121.1) == pytest.approx(90.0, abs=0.1)
    assert bearing_deg(14.0, 121.0, 13.0, 121.0) == pytest.approx(180.0, abs=1e-9)


def test_route_has_enough_real_points_and_starts_and_ends_in_the_right_towns():
    route = default_route()
    assert route.points >= 100
    assert haversine_m(route.lat[0], route.lon[0], *ANTIPOLO) < 2_000
    assert haversine_m(route.lat[-1], route.lon[-1], *BAGUIO) < 2_000


def test_route_is_a_road_not_a_straight_line():
    route = default_route()
    straight = haversine_m(*ANTIPOLO, *BAGUIO)
    # the drive is about 250 km against about 205 km as the crow flies
    assert 220_000 < route.length_m < 300_000
    assert route.length_m > 1.1 * straight
    # no jumps: every segment is short
    steps = [route.cum[i + 1] - route.cum[i] for i in range(route.points - 1)]
    assert max(steps) < 3_000
    assert min(steps) > 0
    # it passes through the big towns on NLEX, SCTEX and TPLEX
    for town in (SAN_FERNANDO_PAMPANGA, TARLAC_CITY):
        assert min(haversine_m(lat, lon, *town) for lat, lon in zip(route.lat, route.lon, strict=True)) < 5_000


def test_every_leg_has_a_known_road_class_and_the_climb_ends_high():
    assert {leg.road_class for leg in LEGS} <= set(ROAD_SPEEDS_KMH)
    route = default_route()
    assert route.alt[-1] > 1_400  # Baguio is at about 1,500 m
    assert max(route.alt[: route.points // 2]) < 300  # the lowlands


def test_position_interpolates_and_clamps():
    route = default_route()
    lat, lon, _alt, seg = route.position(0)
    assert (lat, lon, seg) == (route.lat[0], route.lon[0], 0)
    lat, lon, _alt, seg = route.position(route.length_m + 10)
    assert (lat, lon) == pytest.approx((route.lat[-1], route.lon[-1]))
    middle = (route.cum[10] + route.cum[11]) / 2
    lat, lon, _alt, seg = route.position(middle)
    assert seg == 10
    assert haversine_m(lat, lon, route.lat[10], route.lon[10]) == pytest.approx(
        (route.cum[11] - route.cum[10]) / 2, rel=0.02
    )


def test_cameras_are_spaced_along_the_route_with_unique_ids():
    route = default_route()
    cameras = route.cameras(5_000)
    assert len(cameras) == int(route.length_m // 5_000) + (route.length_m % 5_000 > 2_500)
    assert len({camera.camera_id for camera in cameras}) == len(cameras)
    assert all(b.distance_m - a.distance_m == pytest.approx(5_000) for a, b in itertools.pairwise(cameras))
    assert any(camera.camera_id.startswith("cam-nlex-") for camera in cameras)


def test_a_route_needs_points_and_a_named_place():
    from producers.route_data import Leg

    with pytest.raises(ValueError, match="two points"):
        Route((Leg("x", "city", ((14.0, 121.0, 0, "a"),)),))
    with pytest.raises(ValueError, match="named place"):
        Route((Leg("x", "city", ((14.0, 121.0, 0, ""), (14.1, 121.0, 0, ""))),))
