"""The fleet: which vehicles drive, what they are, and how they drive."""

from __future__ import annotations

from dataclasses import dataclass
from random import Random


@dataclass(frozen=True, slots=True)
class VehicleModel:
    make: str
    model: str
    fuel_type: str  # smartcity.contracts.records.FUEL_TYPES
    vehicle_type: str  # smartcity.contracts.records.VEHICLE_TYPES
    first_year: int
    last_year: int
    pace: float  # how this kind of vehicle drives relative to the road's cruising speed


# Models common on Philippine roads; distinct make/model pairs.
CATALOGUE: tuple[VehicleModel, ...] = (
    VehicleModel("Toyota", "Vios", "gasoline", "private", 2014, 2025, 1.00),
    VehicleModel("Toyota", "Innova", "diesel", "private", 2016, 2025, 0.97),
    VehicleModel("Toyota", "Fortuner", "diesel", "private", 2016, 2025, 1.03),
    VehicleModel("Toyota", "Hiace", "diesel", "van", 2012, 2025, 0.95),
    VehicleModel("Toyota", "Corolla Cross", "hybrid", "private", 2020, 2025, 1.00),
    VehicleModel("Mitsubishi", "Montero Sport", "diesel", "private", 2016, 2025, 1.04),
    VehicleModel("Mitsubishi", "Mirage G4", "gasoline", "taxi", 2014, 2024, 0.96),
    VehicleModel("Mitsubishi", "L300", "diesel", "van", 2010, 2025, 0.88),
    VehicleModel("Honda", "City", "gasoline", "private", 2014, 2025, 1.02),
    VehicleModel("Honda", "CR-V", "gasoline", "private", 2017, 2025, 1.04),
    VehicleModel("Nissan", "Almera", "gasoline", "taxi", 2013, 2025, 0.97),
    VehicleModel("Nissan", "Navara", "diesel", "private", 2015, 2025, 1.01),
    VehicleModel("Ford", "Ranger", "diesel", "private", 2015, 2025, 1.03),
    VehicleModel("Ford", "Everest", "diesel", "private", 2016, 2025, 1.02),
    VehicleModel("Hyundai", "Accent", "gasoline", "taxi", 2012, 2022, 0.98),
    VehicleModel("Isuzu", "D-Max", "diesel", "private", 2014, 2025, 1.00),
    VehicleModel("Isuzu", "Traviz", "diesel", "truck", 2019, 2025, 0.85),
    VehicleModel("Suzuki", "Ertiga", "gasoline", "private", 2014, 2025, 0.97),
    VehicleModel("Kia", "Stonic", "gasoline", "private", 2020, 2025, 1.00),
    VehicleModel("BYD", "Atto 3", "electric", "private", 2023, 2025, 1.01),
    VehicleModel("Hino", "RK8J", "diesel", "bus", 2012, 2024, 0.86),
    VehicleModel("Nissan", "Leaf", "electric", "private", 2019, 2025, 0.98),
)


@dataclass(frozen=True, slots=True)
class Vehicle:
    vehicle_id: str
    model: VehicleModel
    year: int
    departure_offset_ms: int  # after the journey's start time
    pace: float  # this driver's factor on the road's cruising speed


def build_fleet(count: int, departure_interval_ms: int, rng: Random) -> list[Vehicle]:
    """``count`` vehicles with staggered departures; makes/models distinct while the catalogue lasts."""
    vehicles = []
    order: list[VehicleModel] = []
    for index in range(count):
        if not order:
            order = list(CATALOGUE)
            rng.shuffle(order)
        model = order.pop()
        jitter = int(rng.uniform(0, 0.2) * departure_interval_ms) if index else 0  # the first leaves at start
        vehicles.append(
            Vehicle(
                vehicle_id=f"vehicle-{index + 1:05d}",
                model=model,
                year=rng.randint(model.first_year, model.last_year),
                departure_offset_ms=index * departure_interval_ms + jitter,
                pace=model.pace * rng.uniform(0.92, 1.08),
            )
        )
    return vehicles
