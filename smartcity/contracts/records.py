"""The five stream contracts: the single source of truth for every record the platform carries.

Change a field here and regenerate the derived artefacts (``python -m smartcity.contracts``): the JSON
Schemas under ``contracts/jsonschema/`` and the table in ``docs/contracts.md``. Any incompatible change
(rename, type change, new required field, narrower range) must bump that stream's ``schema_version``.
"""

from __future__ import annotations

from smartcity.contracts.model import FieldSpec, FieldType, RecordContract

UUID_PATTERN = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
S3_URI_PATTERN = r"s3://[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]/\S+"

COMPASS_POINTS = ("N", "NE", "E", "SE", "S", "SW", "W", "NW")
FUEL_TYPES = ("gasoline", "diesel", "hybrid", "electric")
VEHICLE_TYPES = ("private", "taxi", "van", "bus", "truck")
WEATHER_CONDITIONS = ("sunny", "partly_cloudy", "cloudy", "fog", "drizzle", "rain", "thunderstorm")
INCIDENT_TYPES = ("accident", "road_block", "medical", "fire", "police", "flood", "landslide")
INCIDENT_STATUSES = ("reported", "responding", "resolved")


def _envelope() -> tuple[FieldSpec, ...]:
    """The fields every record starts with."""
    return (
        FieldSpec(
            "event_id",
            FieldType.STRING,
            description="unique id of this event (lower-case UUID); the lake deduplicates on it",
            pattern=UUID_PATTERN,
        ),
        FieldSpec("vehicle_id", FieldType.STRING, description="id of the vehicle that emitted the event"),
        FieldSpec(
            "event_time",
            FieldType.TIMESTAMP,
            description="when the event happened (ISO-8601 with zone on the wire, UTC in the lake)",
        ),
        FieldSpec("schema_version", FieldType.INT, description="version of this stream's contract"),
    )


def _position(what: str) -> tuple[FieldSpec, ...]:
    return (
        FieldSpec(
            "latitude",
            FieldType.DOUBLE,
            description=f"WGS84 latitude of {what}",
            unit="deg",
            minimum=-90,
            maximum=90,
        ),
        FieldSpec(
            "longitude",
            FieldType.DOUBLE,
            description=f"WGS84 longitude of {what}",
            unit="deg",
            minimum=-180,
            maximum=180,
        ),
    )


def _motion() -> tuple[FieldSpec, ...]:
    return (
        FieldSpec("speed_kmh", FieldType.DOUBLE, description="ground speed", unit="km/h", minimum=0, maximum=250),
        FieldSpec(
            "heading_deg",
            FieldType.DOUBLE,
            description="course over ground, clockwise from true north",
            unit="deg",
            minimum=0,
            maximum=360,
        ),
        FieldSpec(
            "direction",
            FieldType.STRING,
            description="heading as an 8-point compass point",
            enum=COMPASS_POINTS,
        ),
    )


VEHICLE = RecordContract(
    stream="vehicle_data",
    schema_version=1,
    description="Telemetry of one vehicle: where it is, how fast it moves, what it is.",
    fields=(
        *_envelope(),
        *_position("the vehicle"),
        *_motion(),
        FieldSpec("make", FieldType.STRING, description="manufacturer"),
        FieldSpec("model", FieldType.STRING, description="model name"),
        FieldSpec("year", FieldType.INT, description="model year", minimum=1980, maximum=2030),
        FieldSpec("fuel_type", FieldType.STRING, description="fuel or drive type", enum=FUEL_TYPES),
    ),
)

GPS = RecordContract(
    stream="gps_data",
    schema_version=1,
    description="A GPS fix from the vehicle's tracker.",
    fields=(
        *_envelope(),
        *_position("the fix"),
        *_motion(),
        FieldSpec("vehicle_type", FieldType.STRING, description="class of vehicle", enum=VEHICLE_TYPES),
        FieldSpec(
            "accuracy_m",
            FieldType.DOUBLE,
            required=False,
            description="horizontal accuracy (1 sigma); absent when the tracker does not report it",
            unit="m",
            minimum=0,
            maximum=10_000,
        ),
    ),
)

TRAFFIC = RecordContract(
    stream="traffic_data",
    schema_version=1,
    description="A roadside traffic camera snapshot of the vehicle; the JPEG is in the images bucket.",
    fields=(
        *_envelope(),
        FieldSpec("camera_id", FieldType.STRING, description="id of the roadside camera"),
        *_position("the camera"),
        FieldSpec("location", FieldType.STRING, description="road and place the camera watches"),
        FieldSpec(
            "snapshot_uri",
            FieldType.STRING,
            description="S3 URI of the JPEG snapshot; the object exists before the event is sent",
            pattern=S3_URI_PATTERN,
        ),
    ),
)

WEATHER = RecordContract(
    stream="weather_data",
    schema_version=1,
    description="Weather observed at the vehicle's position.",
    fields=(
        *_envelope(),
        *_position("the observation"),
        FieldSpec("location", FieldType.STRING, description="nearest named place on the route"),
        FieldSpec(
            "altitude_m",
            FieldType.DOUBLE,
            description="altitude above sea level",
            unit="m",
            minimum=-100,
            maximum=3000,
        ),
        FieldSpec(
            "temperature_c",
            FieldType.DOUBLE,
            description="air temperature",
            unit="°C",
            minimum=-20,
            maximum=50,
        ),
        FieldSpec("weather_condition", FieldType.STRING, description="sky condition", enum=WEATHER_CONDITIONS),
        FieldSpec(
            "precipitation_mm",
            FieldType.DOUBLE,
            description="precipitation rate",
            unit="mm/h",
            minimum=0,
            maximum=300,
        ),
        FieldSpec(
            "wind_speed_kmh",
            FieldType.DOUBLE,
            description="mean wind speed",
            unit="km/h",
            minimum=0,
            maximum=300,
        ),
        FieldSpec(
            "humidity_pct",
            FieldType.DOUBLE,
            description="relative humidity",
            unit="%",
            minimum=0,
            maximum=100,
        ),
        FieldSpec(
            "air_quality_index",
            FieldType.INT,
            description="US EPA air quality index",
            unit="AQI",
            minimum=0,
            maximum=500,
        ),
    ),
)

EMERGENCY = RecordContract(
    stream="emergency_data",
    schema_version=1,
    description="An incident seen or reported by a vehicle; one event per status change of the incident.",
    fields=(
        *_envelope(),
        FieldSpec(
            "incident_id",
            FieldType.STRING,
            description="id of the incident (lower-case UUID), shared by its status changes",
            pattern=UUID_PATTERN,
        ),
        FieldSpec("incident_type", FieldType.STRING, description="kind of incident", enum=INCIDENT_TYPES),
        *_position("the incident"),
        FieldSpec("location", FieldType.STRING, description="nearest named place on the route"),
        FieldSpec("status", FieldType.STRING, description="incident status at event_time", enum=INCIDENT_STATUSES),
        FieldSpec("description", FieldType.STRING, description="free-text description"),
    ),
)

CONTRACTS: dict[str, RecordContract] = {
    contract.stream: contract for contract in (VEHICLE, GPS, TRAFFIC, WEATHER, EMERGENCY)
}
