"""Bad-record injection: a labelled mix of broken records for testing the pipeline's quarantine and dedupe.

An injected record is sent *in addition to* the good record it is derived from (the journey stays
complete), right after it, on the same topic and key, with a Kafka header ``smartcity-injected: <kind>``.
Except for ``duplicate`` it carries a fresh ``event_id``, so it never collides with a good record in
the lake's dedupe.

Expected fate in the lake (``EXPECTED_REASON``): quarantined with the same-named reason, except
``duplicate``, an exact copy of the good record's bytes, which the dedupe drops.
"""

from __future__ import annotations

from enum import StrEnum
from random import Random
from typing import Any

import orjson

from producers.simulator import EventClock, uuid4_from
from smartcity.contracts.model import FieldType, RecordContract, RejectReason

INJECTED_HEADER = "smartcity-injected"


class BadKind(StrEnum):
    MALFORMED_JSON = "malformed_json"
    WRONG_TYPE = "wrong_type"
    MISSING_FIELD = "missing_field"
    OUT_OF_RANGE = "out_of_range"
    UNKNOWN_SCHEMA_VERSION = "unknown_schema_version"
    LATE = "late"
    DUPLICATE = "duplicate"


EXPECTED_REASON: dict[BadKind, RejectReason | None] = {
    BadKind.MALFORMED_JSON: RejectReason.MALFORMED_JSON,
    BadKind.WRONG_TYPE: RejectReason.WRONG_TYPE,
    BadKind.MISSING_FIELD: RejectReason.MISSING_FIELD,
    BadKind.OUT_OF_RANGE: RejectReason.OUT_OF_RANGE,
    BadKind.UNKNOWN_SCHEMA_VERSION: RejectReason.UNKNOWN_SCHEMA_VERSION,
    BadKind.LATE: RejectReason.LATE,
    BadKind.DUPLICATE: None,
}

# Never touched by wrong_type/missing_field: without them a record cannot be identified or versioned.
_KEEP = ("event_id", "schema_version")


class BadRecordInjector:
    """Decides, per good record, whether to add a bad one, and builds it. Deterministic with the seed."""

    def __init__(
        self, rate: float, kinds: tuple[BadKind, ...] = tuple(BadKind), seed: int = 0, late_by_s: float = 3600.0
    ) -> None:
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"bad-record rate must be within [0, 1], got {rate}")
        if rate > 0 and not kinds:
            raise ValueError("bad-record kinds must not be empty")
        self.rate = rate
        self.kinds = tuple(kinds)
        self.rng = Random(f"{seed}/bad-records")
        self.late_by_ms = int(late_by_s * 1000)
        self._id_prefix = uuid4_from(self.rng.getrandbits(128))[:24]
        self._ids = 0
        self._iso = EventClock().iso

    def maybe(
        self, contract: RecordContract, record: dict[str, Any], payload: bytes, time_ms: int
    ) -> tuple[BadKind, bytes] | None:
        """None for most records; with probability ``rate`` a (kind, payload) to send after the good one."""
        if self.rate == 0.0 or self.rng.random() >= self.rate:
            return None
        kind = self.rng.choice(self.kinds)
        return kind, self.build(kind, contract, record, payload, time_ms)

    def build(
        self, kind: BadKind, contract: RecordContract, record: dict[str, Any], payload: bytes, time_ms: int
    ) -> bytes:
        if kind is BadKind.DUPLICATE:
            return payload
        bad = dict(record)
        self._ids += 1
        bad["event_id"] = f"{self._id_prefix}{self._ids:012x}"
        rng = self.rng
        if kind is BadKind.MALFORMED_JSON:
            text = orjson.dumps(bad)
            # any proper prefix of a JSON object is invalid JSON: the object only closes at its last byte
            return text[: rng.randint(1, len(text) - 1)]
        if kind is BadKind.WRONG_TYPE:
            numeric = (FieldType.DOUBLE, FieldType.INT, FieldType.LONG)
            name = rng.choice([f.name for f in contract.fields if f.type in numeric and f.name not in _KEEP])
            bad[name] = str(bad[name])  # a number sent as a string
        elif kind is BadKind.MISSING_FIELD:
            name = rng.choice([f.name for f in contract.fields if f.required and f.name not in _KEEP])
            del bad[name]
        elif kind is BadKind.OUT_OF_RANGE:
            spec = rng.choice([f for f in contract.fields if f.maximum is not None and f.minimum is not None])
            assert spec.maximum is not None and spec.minimum is not None  # for the type checker
            beyond = spec.maximum + (spec.maximum - spec.minimum) * rng.uniform(0.1, 1.0) + 1
            bad[spec.name] = round(beyond) if spec.type is not FieldType.DOUBLE else round(beyond, 3)
        elif kind is BadKind.UNKNOWN_SCHEMA_VERSION:
            bad["schema_version"] = contract.schema_version + 1
        elif kind is BadKind.LATE:
            bad["event_time"] = self._iso(time_ms - self.late_by_ms)
        return orjson.dumps(bad)
