"""Weather along the route: a per-vehicle wetness that drifts with altitude, turned into observations.

Consistent with the geography: temperature falls with altitude (standard lapse rate 6.5 °C/km) and follows
the day (warmest around 14:00 local time), the mountains are wetter, foggier, windier and more humid than
the lowlands, and the air is dirtier in Metro Manila.
"""

from __future__ import annotations

import math
from random import Random

SEA_LEVEL_MEAN_C = 31.0
LAPSE_RATE_C_PER_M = 0.0065
MANILA_UTC_OFFSET_H = 8


def is_metro_manila(latitude: float, longitude: float) -> bool:
    return latitude < 14.76 and longitude > 120.95


# Noise: uniform with the stated standard deviation (a uniform on [-0.5, 0.5) has sd 1/sqrt(12)); much
# cheaper than random.gauss, and the shape does not matter here.
_SD = math.sqrt(12.0)


def next_wetness(wetness: float, altitude_m: float, rng: Random) -> float:
    """One step of the wetness random walk (0 = dry, 1 = storm), pulled towards the altitude's climate."""
    climate = 0.2 + 0.45 * min(max(altitude_m, 0.0), 1500.0) / 1500.0
    wetness += 0.15 * (climate - wetness) + 0.06 * _SD * (rng.random() - 0.5)
    return 0.0 if wetness < 0.0 else 1.0 if wetness > 1.0 else wetness


def condition_for(wetness: float, altitude_m: float) -> str:
    if wetness < 0.15:
        return "sunny"
    if wetness < 0.30:
        return "partly_cloudy"
    if wetness < 0.45:
        return "cloudy"
    if wetness < 0.55:
        return "fog" if altitude_m > 700 else "cloudy"
    if wetness < 0.70:
        return "drizzle"
    if wetness < 0.88:
        return "rain"
    return "thunderstorm"


_PRECIPITATION_MM_H = {"drizzle": (0.1, 1.0), "rain": (1.0, 12.0), "thunderstorm": (10.0, 50.0)}


def _one_decimal(value: float, low: float, high: float) -> float:
    value = low if value < low else high if value > high else value
    return math.floor(value * 10.0 + 0.5) / 10.0


def observe(
    wetness: float, latitude: float, longitude: float, altitude_m: float, utc_hour: float, rng: Random
) -> tuple[float, str, float, float, float, int]:
    """(temperature_c, condition, precipitation_mm, wind_speed_kmh, humidity_pct, air_quality_index)."""
    condition = condition_for(wetness, altitude_m)
    low, high = _PRECIPITATION_MM_H.get(condition, (0.0, 0.0))
    precipitation = low + (high - low) * rng.random() if high else 0.0
    local_hour = (utc_hour + MANILA_UTC_OFFSET_H) % 24
    diurnal = 3.0 * math.cos(2 * math.pi * (local_hour - 14.0) / 24.0)
    noise = rng.random
    temperature = (
        SEA_LEVEL_MEAN_C - LAPSE_RATE_C_PER_M * altitude_m + diurnal - 4.0 * wetness + 0.4 * _SD * (noise() - 0.5)
    )
    mountain = min(max(altitude_m, 0.0), 1500.0) / 1500.0
    humidity = 55.0 + 35.0 * wetness + 10.0 * mountain + 2.0 * _SD * (noise() - 0.5)
    wind = 6.0 + 25.0 * wetness * wetness + 12.0 * mountain + 3.0 * noise()
    base_aqi = 75.0 if is_metro_manila(latitude, longitude) else 35.0
    aqi = base_aqi - 25.0 * wetness + 5.0 * _SD * (noise() - 0.5)
    return (
        _one_decimal(temperature, -20.0, 50.0),
        condition,
        _one_decimal(precipitation, 0.0, 300.0),
        _one_decimal(wind, 0.0, 300.0),
        _one_decimal(humidity, 0.0, 100.0),
        int(5.0 if aqi < 5.0 else 500.0 if aqi > 500.0 else aqi),
    )
