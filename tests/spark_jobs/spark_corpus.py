"""Seeded records for the streaming-job tests: valid ones built from the contracts, and each kind of bad one.

The expected outcome of every record is decided by the contract's own Python validator
(:meth:`RecordContract.validate`), never by the Spark code under test.
"""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from smartcity.contracts.model import FieldSpec, FieldType, RecordContract, RejectReason
from smartcity.contracts.records import S3_URI_PATTERN, UUID_PATTERN

BASE_TIME = datetime(2025, 3, 1, 6, 0, tzinfo=UTC)


def iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def valid_value(spec: FieldSpec, rng: random.Random, moment: datetime) -> Any:
    """A value that meets ``spec``."""
    if spec.name == "event_time":
        return iso(moment)
    if spec.type is FieldType.TIMESTAMP:
        return iso(moment - timedelta(seconds=rng.randint(0, 60)))
    if spec.type is FieldType.STRING:
        if spec.enum:
            return rng.choice(spec.enum)
        if spec.pattern == UUID_PATTERN:
            return str(uuid.UUID(int=rng.getrandbits(128), version=4))
        if spec.pattern == S3_URI_PATTERN:
            return f"s3://urban-city-pipeline/snapshots/cam-{rng.randint(1, 99)}/{rng.getrandbits(32):08x}.jpg"
        if spec.pattern is not None:
            raise NotImplementedError(f"no generator for pattern {spec.pattern}")
        return f"{spec.name}-{rng.randint(1, 999)}"
    if spec.type is FieldType.BOOLEAN:
        return rng.random() < 0.5
    low = spec.minimum if spec.minimum is not None else -1000
    high = spec.maximum if spec.maximum is not None else 1000
    if spec.type is FieldType.DOUBLE:
        return round(rng.uniform(low, high), 4)
    return rng.randint(int(low), int(high))


def valid_record(contract: RecordContract, rng: random.Random, moment: datetime) -> dict[str, Any]:
    record = {spec.name: valid_value(spec, rng, moment) for spec in contract.fields}
    record["schema_version"] = contract.schema_version
    for spec in contract.fields:
        if not spec.required and rng.random() < 0.3:
            del record[spec.name]
    return record


def _wrong_kind(spec: FieldSpec, rng: random.Random) -> Any:
    if spec.type in (FieldType.STRING, FieldType.TIMESTAMP):
        return rng.choice([123, 4.5, True, {"x": 1}, [1]])
    if spec.type is FieldType.BOOLEAN:
        return rng.choice(["true", 1])
    if spec.type is FieldType.DOUBLE:
        return rng.choice(["12.5", True, [1.0], "fast"])
    return rng.choice(["7", 12.5, 12.0, 1e3, False])


def mutations(contract: RecordContract, record: dict[str, Any], rng: random.Random) -> Iterator[tuple[str, str]]:
    """(label, raw JSON text) of each kind of bad record derived from a valid one."""
    for spec in contract.fields:
        broken = dict(record)
        broken.pop(spec.name, None)
        yield f"absent {spec.name}", json.dumps(broken)
        yield f"null {spec.name}", json.dumps({**record, spec.name: None})
        yield f"wrong kind {spec.name}", json.dumps({**record, spec.name: _wrong_kind(spec, rng)})
        if spec.type is FieldType.TIMESTAMP:
            for bad in ("2025-03-01T06:00:00", "2025-13-01T06:00:00Z", "yesterday", "2025-03-01 06:00:00Z"):
                yield f"bad timestamp {spec.name}", json.dumps({**record, spec.name: bad})
            yield "offset zone", json.dumps({**record, spec.name: "2025-03-01T14:00:00.123456+08:00"})
        if spec.enum:
            yield f"enum {spec.name}", json.dumps({**record, spec.name: spec.enum[0].upper() + "x"})
        if spec.pattern:
            yield f"pattern {spec.name}", json.dumps({**record, spec.name: "not-matching value"})
        if spec.minimum is not None:
            yield f"below {spec.name}", json.dumps({**record, spec.name: spec.minimum - 0.5})
        if spec.maximum is not None:
            yield f"above {spec.name}", json.dumps({**record, spec.name: spec.maximum + 1})
        if spec.type in (FieldType.INT, FieldType.LONG):
            yield (
                f"overflow {spec.name}",
                json.dumps({**record, spec.name: 2**31 if spec.type is FieldType.INT else 2**64}),
            )
        if spec.type is FieldType.DOUBLE:
            yield f"integral {spec.name}", json.dumps({**record, spec.name: int(spec.minimum or 0)})
            yield f"huge {spec.name}", json.dumps({**record, spec.name: 1e308}).replace("1e+308", "1e400")
    yield "version 2", json.dumps({**record, "schema_version": 2})
    yield "version text", json.dumps({**record, "schema_version": "1"})
    yield "version float", json.dumps({**record, "schema_version": 1.0})
    yield "extra field", json.dumps({**record, "unexpected": {"a": 1}})
    yield "not json", "{this is not json"
    yield "truncated", json.dumps(record)[:-5]
    yield "array", json.dumps([record])
    yield "scalar", "42"
    yield "empty object", "{}"
    yield "empty", ""


def expected_reason(contract: RecordContract, raw: str) -> str | None:
    """What the contract's Python validator says about ``raw``: None when valid, else the first reason."""
    try:
        record = json.loads(raw)
    except ValueError:
        return RejectReason.MALFORMED_JSON.value
    rejections = contract.validate(record)
    return rejections[0].reason.value if rejections else None


@dataclass(frozen=True)
class Message:
    """One Kafka message of a test mix: the raw value and what the lake must make of it."""

    stream: str
    key: str
    value: str
    outcome: str  # "valid", "duplicate", or a RejectReason value


def journey_mix(contracts: dict[str, RecordContract], per_stream: int, seed: int = 7) -> list[Message]:
    """A known mix per stream: valid records, duplicates, every bad kind, and late records.

    Event times advance one second per valid record. Late records come last, after a record that moves the
    watermark ten minutes ahead, and carry an event time older than the 2-minute watermark.
    """
    rng = random.Random(seed)
    messages: list[Message] = []
    for stream, contract in contracts.items():
        valid = [valid_record(contract, rng, BASE_TIME + timedelta(seconds=i)) for i in range(per_stream)]
        for record in valid:
            messages.append(Message(stream, record["vehicle_id"], json.dumps(record), "valid"))
        for record in valid[:: max(1, per_stream // 10)]:
            messages.append(Message(stream, record["vehicle_id"], json.dumps(record), "duplicate"))
        for label, raw in mutations(contract, valid[0], rng):
            reason = expected_reason(contract, raw) or "valid"
            if reason == "valid":  # e.g. an extra field: a new valid event, with its own id
                record = {**json.loads(raw), "event_id": str(uuid.UUID(int=rng.getrandbits(128), version=4))}
                raw = json.dumps(record)
            del label
            messages.append(Message(stream, "bad", raw, reason))
        ahead = valid_record(contract, rng, BASE_TIME + timedelta(seconds=per_stream + 600))
        messages.append(Message(stream, ahead["vehicle_id"], json.dumps(ahead), "valid"))
        for i in range(3):
            late = valid_record(contract, rng, BASE_TIME + timedelta(seconds=i))
            messages.append(Message(stream, late["vehicle_id"], json.dumps(late), RejectReason.LATE.value))
    return messages
