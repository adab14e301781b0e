"""The report's Athena SQL over one journey's rows (scoped like the DAG's checks, see ``plugins.lake``).

Plots need shape, not every row: per-vehicle series are thinned in SQL to every ``step``-th event of each
vehicle, so a large fleet still returns a bounded number of rows (Athena pages 1,000 rows per request).
Times come back as epoch seconds (``to_unixtime``): plain numbers, whatever the engine's timestamp format.
"""

from __future__ import annotations

import math

from plugins.lake import JourneyScope

TRACK_POINTS = 8_000  # rows budget of the vehicle tracks (speed over time and the map)
WEATHER_POINTS = 4_000


def step_for(expected_rows: int, budget: int) -> int:
    """Keep every ``step``-th row so that about ``budget`` of ``expected_rows`` remain."""
    return max(1, math.ceil(expected_rows / budget)) if budget > 0 else 1


def scope_filter(scope: JourneyScope | None, stream: str) -> str:
    if scope is None:
        return ""
    window = scope.events.get(stream)
    return f" WHERE {window.predicate('event_time')}" if window else " WHERE false"


def _per_vehicle_sample(stream: str, columns: list[str], scope: JourneyScope | None, step: int) -> str:
    selected = ", ".join(columns)
    return (
        f"SELECT vehicle_id, t, {selected} FROM ("
        f"SELECT vehicle_id, to_unixtime(event_time) AS t, {selected}, "
        "row_number() OVER (PARTITION BY vehicle_id ORDER BY event_time, event_id) AS rn "
        f"FROM {stream}{scope_filter(scope, stream)}) AS in_scope "
        f"WHERE (rn - 1) % {int(step)} = 0 ORDER BY vehicle_id, t"
    )


def tracks_sql(scope: JourneyScope | None, step: int = 1) -> str:
    """Each vehicle's positions and speeds over time (``vehicle_data``)."""
    return _per_vehicle_sample("vehicle_data", ["latitude", "longitude", "speed_kmh"], scope, step)


def weather_sql(scope: JourneyScope | None, step: int = 1) -> str:
    """Temperature and air quality where each vehicle was (``weather_data``)."""
    columns = ["latitude", "longitude", "altitude_m", "temperature_c", "air_quality_index"]
    return _per_vehicle_sample("weather_data", columns, scope, step)


def incidents_sql(scope: JourneyScope | None) -> str:
    """One row per incident (its status changes share position and type)."""
    return (
        "SELECT incident_id, min(incident_type) AS incident_type, min(latitude) AS latitude, "
        "min(longitude) AS longitude, min(location) AS location, min(to_unixtime(event_time)) AS t, "
        "count(*) AS status_events "
        f"FROM emergency_data{scope_filter(scope, 'emergency_data')} GROUP BY incident_id ORDER BY t"
    )


def cameras_sql(scope: JourneyScope | None) -> str:
    """The cameras that saw the fleet, and how many snapshots each took."""
    return (
        "SELECT camera_id, min(latitude) AS latitude, min(longitude) AS longitude, min(location) AS location, "
        f"count(*) AS snapshots FROM traffic_data{scope_filter(scope, 'traffic_data')} "
        "GROUP BY camera_id ORDER BY camera_id"
    )
