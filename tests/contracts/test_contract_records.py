"""The five stream contracts: names, the shared envelope and one hand-written valid record per stream."""

from __future__ import annotations

import pytest

from smartcity.contracts.model import FieldType, RejectReason
from smartcity.contracts.records import CONTRACTS, EMERGENCY, GPS, TRAFFIC, VEHICLE, WEATHER

ENVELOPE = {
    "event_id": "0b5c3f4e-8d9a-4c1e-9f3b-2a7d6e5c4b3a",
    "vehicle_id": "vehicle-007",
    "event_time": "2025-03-01T06:30:00.000Z",
    "schema_version": 1,
}

# Hand-written examples (values a reader can check against the issue), one per stream.
EXAMPLES = {
    "vehicle_data": {
        **ENVELOPE,
        "latitude": 14.5869,
        "longitude": 121.1753,
        "speed_kmh": 42.5,
        "heading_deg": 315.0,
        "direction": "NW",
        "make": "Toyota",
        "model": "Innova",
        "year": 2022,
        "fuel_type": "diesel",
    },
    "gps_data": {
        **ENVELOPE,
        "latitude": 15.0,
        "longitude": 120.6,
        "speed_kmh": 95.0,
        "heading_deg": 0.0,
        "direction": "N",
        "vehicle_type": "private",
    },
    "traffic_data": {
        **ENVELOPE,
        "camera_id": "cam-nlex-012",
        "latitude": 14.9,
        "longitude": 120.75,
        "location": "NLEX, San Fernando",
        "snapshot_uri": "s3://urban-city-pipeline/snapshots/cam-nlex-012/abc.jpg",
    },
    "weather_data": {
        **ENVELOPE,
        "latitude": 16.41,
        "longitude": 120.59,
        "location": "Baguio",
        "altitude_m": 1500.0,
        "temperature_c": 18.5,
        "weather_condition": "fog",
        "precipitation_mm": 0.4,
        "wind_speed_kmh": 12.0,
        "humidity_pct": 92.0,
        "air_quality_index": 35,
    },
    "emergency_data": {
        **ENVELOPE,
        "incident_id": "1c2d3e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f",
        "incident_type": "road_block",
        "latitude": 16.3,
        "longitude": 120.55,
        "location": "Kennon/Marcos Highway",
        "status": "reported",
        "description": "landslide debris on the northbound lane",
    },
}


def test_the_five_streams_in_order():
    assert list(CONTRACTS) == ["vehicle_data", "gps_data", "traffic_data", "weather_data", "emergency_data"]
    assert [c.topic for c in (VEHICLE, GPS, TRAFFIC, WEATHER, EMERGENCY)] == list(CONTRACTS)


@pytest.mark.parametrize("stream", list(CONTRACTS))
def test_every_contract_starts_with_the_envelope_and_has_flat_positions(stream):
    contract = CONTRACTS[stream]
    assert contract.field_names[:4] == ("event_id", "vehicle_id", "event_time", "schema_version")
    assert contract.field("event_time").type is FieldType.TIMESTAMP
    assert contract.field("latitude").type is FieldType.DOUBLE
    assert contract.field("longitude").type is FieldType.DOUBLE
    assert contract.schema_version >= 1


@pytest.mark.parametrize("stream", list(CONTRACTS))
def test_hand_written_example_is_valid(stream):
    assert CONTRACTS[stream].validate(EXAMPLES[stream]) == []


@pytest.mark.parametrize("stream", list(CONTRACTS))
def test_every_required_field_is_enforced(stream):
    contract = CONTRACTS[stream]
    for spec in contract.fields:
        if not spec.required or spec.name == "schema_version":
            continue
        record = {k: v for k, v in EXAMPLES[stream].items() if k != spec.name}
        assert [(r.reason, r.field) for r in contract.validate(record)] == [(RejectReason.MISSING_FIELD, spec.name)]


@pytest.mark.parametrize(
    ("stream", "name", "value", "reason"),
    [
        ("vehicle_data", "latitude", 91.0, RejectReason.OUT_OF_RANGE),
        ("vehicle_data", "speed_kmh", -3.0, RejectReason.OUT_OF_RANGE),
        ("vehicle_data", "fuel_type", "coal", RejectReason.INVALID_ENUM),
        ("vehicle_data", "year", "2022", RejectReason.WRONG_TYPE),
        ("gps_data", "direction", "north", RejectReason.INVALID_ENUM),
        ("traffic_data", "snapshot_uri", "http://example.com/a.jpg", RejectReason.WRONG_TYPE),
        ("weather_data", "humidity_pct", 101.0, RejectReason.OUT_OF_RANGE),
        ("weather_data", "air_quality_index", 35.5, RejectReason.WRONG_TYPE),
        ("emergency_data", "status", "closed", RejectReason.INVALID_ENUM),
        ("emergency_data", "event_id", "not-a-uuid", RejectReason.WRONG_TYPE),
    ],
)
def test_stream_specific_rules(stream, name, value, reason):
    record = {**EXAMPLES[stream], name: value}
    assert [(r.reason, r.field) for r in CONTRACTS[stream].validate(record)] == [(reason, name)]


def test_gps_accuracy_is_optional():
    assert GPS.validate({**EXAMPLES["gps_data"], "accuracy_m": 4.5}) == []
    assert not GPS.field("accuracy_m").required
