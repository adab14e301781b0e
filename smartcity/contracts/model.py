"""The vocabulary of a record contract: field types, field specs, contracts and rejections.

A :class:`RecordContract` is plain data (frozen dataclasses, no Spark, no pydantic) so every consumer derives
what it needs from the same object: the producer serializes in field order, the Spark job builds its
``StructType`` and validation columns from :class:`FieldSpec`, the catalog checks use :meth:`glue_columns`,
external producers get :meth:`RecordContract.json_schema`.

Validation rules (the Spark job implements the same rules column-wise; keep both in step):

* the record must be a JSON object, else ``malformed_json``;
* ``schema_version`` must equal the contract's version, else ``unknown_schema_version`` (checked first: a
  record of another version is not judged by this version's rules);
* a required field that is absent or ``null`` is ``missing_field``; an optional one may be absent or ``null``;
* a value of the wrong JSON type is ``wrong_type`` (booleans are not numbers; an integral JSON number is a
  valid ``double``; a string not matching ``pattern`` is ``wrong_type`` too: it is not the kind of string
  the field holds);
* a ``timestamp`` is an ISO-8601 string with a zone offset; a string without zone or unparseable is
  ``bad_timestamp``; a non-string is ``wrong_type``;
* a number outside ``[minimum, maximum]`` (both inclusive) or not finite is ``out_of_range``; an
  ``int``/``long`` outside its 32/64-bit range is ``out_of_range``;
* a string outside ``enum`` is ``invalid_enum``;
* fields not in the contract are ignored (forward compatible; Spark's ``from_json`` drops them too).

``late`` and ``malformed_json`` for unparseable bytes are decided by the consumer, not here.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

SCHEMA_VERSION_FIELD = "schema_version"

INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


class FieldType(StrEnum):
    """Logical field types; ``timestamp`` is an ISO-8601 string with zone on the wire, UTC in Parquet."""

    STRING = "string"
    INT = "int"
    LONG = "long"
    DOUBLE = "double"
    BOOLEAN = "boolean"
    TIMESTAMP = "timestamp"


HIVE_TYPES: dict[FieldType, str] = {
    FieldType.STRING: "string",
    FieldType.INT: "int",
    FieldType.LONG: "bigint",
    FieldType.DOUBLE: "double",
    FieldType.BOOLEAN: "boolean",
    FieldType.TIMESTAMP: "timestamp",
}

_JSON_SCHEMA_TYPES: dict[FieldType, str] = {
    FieldType.STRING: "string",
    FieldType.INT: "integer",
    FieldType.LONG: "integer",
    FieldType.DOUBLE: "number",
    FieldType.BOOLEAN: "boolean",
    FieldType.TIMESTAMP: "string",
}


class RejectReason(StrEnum):
    """Why a record goes to quarantine; the value is what lands in the quarantine's ``reason`` column."""

    MALFORMED_JSON = "malformed_json"
    MISSING_FIELD = "missing_field"
    WRONG_TYPE = "wrong_type"
    OUT_OF_RANGE = "out_of_range"
    INVALID_ENUM = "invalid_enum"
    BAD_TIMESTAMP = "bad_timestamp"
    UNKNOWN_SCHEMA_VERSION = "unknown_schema_version"
    LATE = "late"


@dataclass(frozen=True, slots=True)
class Rejection:
    """One violation: the reason, the offending field (None for whole-record problems) and a human detail."""

    reason: RejectReason
    field: str | None
    detail: str


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """One field of a record: its wire name, logical type and the constraints every consumer enforces."""

    name: str
    type: FieldType
    required: bool = True
    description: str = ""
    unit: str | None = None
    minimum: float | None = None
    maximum: float | None = None
    enum: tuple[str, ...] | None = None
    pattern: str | None = None

    def __post_init__(self) -> None:
        if self.enum is not None and self.type is not FieldType.STRING:
            raise ValueError(f"field {self.name!r}: enum is only allowed on string fields")
        if self.pattern is not None and self.type is not FieldType.STRING:
            raise ValueError(f"field {self.name!r}: pattern is only allowed on string fields")
        numeric = (FieldType.INT, FieldType.LONG, FieldType.DOUBLE)
        if (self.minimum is not None or self.maximum is not None) and self.type not in numeric:
            raise ValueError(f"field {self.name!r}: minimum/maximum are only allowed on numeric fields")
        if self.minimum is not None and self.maximum is not None and self.minimum > self.maximum:
            raise ValueError(f"field {self.name!r}: minimum {self.minimum} > maximum {self.maximum}")

    @property
    def hive_type(self) -> str:
        return HIVE_TYPES[self.type]

    def check(self, value: Any) -> Rejection | None:
        """Check one present, non-null value against this field's type and constraints."""
        kind = self.type
        if kind is FieldType.STRING:
            if not isinstance(value, str):
                return self._reject(RejectReason.WRONG_TYPE, f"expected string, got {_json_type(value)}")
            if self.enum is not None and value not in self.enum:
                return self._reject(RejectReason.INVALID_ENUM, f"{value!r} not one of {list(self.enum)}")
            if self.pattern is not None and _compiled(self.pattern).fullmatch(value) is None:
                return self._reject(RejectReason.WRONG_TYPE, f"{value!r} does not match {self.pattern}")
            return None
        if kind is FieldType.TIMESTAMP:
            if not isinstance(value, str):
                return self._reject(RejectReason.WRONG_TYPE, f"expected ISO-8601 string, got {_json_type(value)}")
            if parse_timestamp(value) is None:
                return self._reject(
                    RejectReason.BAD_TIMESTAMP,
                    f"{value!r} is not an ISO-8601 date-time with zone, e.g. 2025-03-01T06:00:00Z",
                )
            return None
        if kind is FieldType.BOOLEAN:
            if not isinstance(value, bool):
                return self._reject(RejectReason.WRONG_TYPE, f"expected boolean, got {_json_type(value)}")
            return None
        # numeric
        if isinstance(value, bool) or not isinstance(value, int | float):
            return self._reject(RejectReason.WRONG_TYPE, f"expected {kind.value}, got {_json_type(value)}")
        if kind is not FieldType.DOUBLE:
            if not isinstance(value, int):
                return self._reject(RejectReason.WRONG_TYPE, f"expected {kind.value}, got a fraction")
            low, high = (INT32_MIN, INT32_MAX) if kind is FieldType.INT else (INT64_MIN, INT64_MAX)
            if not low <= value <= high:
                return self._reject(RejectReason.OUT_OF_RANGE, f"{value} overflows {kind.value}")
        elif not math.isfinite(value):
            return self._reject(RejectReason.OUT_OF_RANGE, f"{value} is not finite")
        if self.minimum is not None and value < self.minimum:
            return self._reject(RejectReason.OUT_OF_RANGE, f"{value} < minimum {self.minimum}")
        if self.maximum is not None and value > self.maximum:
            return self._reject(RejectReason.OUT_OF_RANGE, f"{value} > maximum {self.maximum}")
        return None

    def json_schema(self) -> dict[str, Any]:
        """The JSON Schema (draft 2020-12) fragment for this field."""
        schema: dict[str, Any] = {"type": _JSON_SCHEMA_TYPES[self.type]}
        if self.description:
            schema["description"] = self.description + (f" [{self.unit}]" if self.unit else "")
        if self.type is FieldType.TIMESTAMP:
            schema["format"] = "date-time"
            schema["pattern"] = _TIMESTAMP_JSON_PATTERN
        if self.type is FieldType.INT:
            schema["minimum"], schema["maximum"] = INT32_MIN, INT32_MAX
        if self.type is FieldType.LONG:
            schema["minimum"], schema["maximum"] = INT64_MIN, INT64_MAX
        if self.minimum is not None:
            schema["minimum"] = self.minimum
        if self.maximum is not None:
            schema["maximum"] = self.maximum
        if self.enum is not None:
            schema["enum"] = list(self.enum)
        if self.pattern is not None:
            schema["pattern"] = f"^(?:{self.pattern})$"
        if not self.required:
            schema["type"] = [schema["type"], "null"]
            if "enum" in schema:
                schema["enum"] = [*schema["enum"], None]
        return schema

    def _reject(self, reason: RejectReason, detail: str) -> Rejection:
        return Rejection(reason, self.name, detail)


@dataclass(frozen=True)
class RecordContract:
    """The contract of one stream; the Kafka topic is the stream name."""

    stream: str
    schema_version: int
    description: str
    fields: tuple[FieldSpec, ...]
    _by_name: dict[str, FieldSpec] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        by_name = {spec.name: spec for spec in self.fields}
        if len(by_name) != len(self.fields):
            raise ValueError(f"contract {self.stream!r} has duplicate field names")
        version = by_name.get(SCHEMA_VERSION_FIELD)
        if version is None or version.type is not FieldType.INT or not version.required:
            raise ValueError(f"contract {self.stream!r} needs a required int field {SCHEMA_VERSION_FIELD!r}")
        object.__setattr__(self, "_by_name", by_name)

    @property
    def topic(self) -> str:
        return self.stream

    @property
    def field_names(self) -> tuple[str, ...]:
        return tuple(spec.name for spec in self.fields)

    def field(self, name: str) -> FieldSpec:
        """The spec of ``name``; KeyError naming the stream if there is no such field."""
        try:
            return self._by_name[name]
        except KeyError:
            raise KeyError(f"{self.stream} has no field {name!r}") from None

    def validate(self, record: Mapping[str, Any]) -> list[Rejection]:
        """Every violation of this contract in ``record`` (an empty list means valid), in field order."""
        if not isinstance(record, Mapping):
            return [Rejection(RejectReason.MALFORMED_JSON, None, f"expected a JSON object, got {_json_type(record)}")]
        version = record.get(SCHEMA_VERSION_FIELD)
        if version is None:
            return [Rejection(RejectReason.MISSING_FIELD, SCHEMA_VERSION_FIELD, "required field is missing")]
        if isinstance(version, bool) or version != self.schema_version:
            return [
                Rejection(
                    RejectReason.UNKNOWN_SCHEMA_VERSION,
                    SCHEMA_VERSION_FIELD,
                    f"{version!r} is not {self.stream} schema version {self.schema_version}",
                )
            ]
        rejections = []
        for spec in self.fields:
            value = record.get(spec.name)
            if value is None:
                if spec.required:
                    absent = "missing" if spec.name not in record else "null"
                    rejections.append(Rejection(RejectReason.MISSING_FIELD, spec.name, f"required field is {absent}"))
                continue
            rejection = spec.check(value)
            if rejection is not None:
                rejections.append(rejection)
        return rejections

    def json_schema(self) -> dict[str, Any]:
        """A JSON Schema (draft 2020-12) document that external producers can validate against."""
        properties = {spec.name: spec.json_schema() for spec in self.fields}
        properties[SCHEMA_VERSION_FIELD] = {**properties[SCHEMA_VERSION_FIELD], "const": self.schema_version}
        return {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": f"https://smartcity.example/contracts/{self.stream}/v{self.schema_version}.json",
            "title": self.stream,
            "description": self.description,
            "type": "object",
            "properties": properties,
            "required": [spec.name for spec in self.fields if spec.required],
            "additionalProperties": True,
        }

    def glue_columns(self) -> list[tuple[str, str]]:
        """(column name, Hive type) in field order, as a Glue crawler of the lake should report them."""
        return [(spec.name, spec.hive_type) for spec in self.fields]


# The accepted timestamp shape: ISO-8601 extended date-time with seconds, optional fraction and a zone
# (``Z`` or ``±HH:MM``), e.g. ``2025-03-01T06:00:00.000Z``. Deliberately narrower than everything ISO-8601
# allows (week dates, basic format) so that every consumer (Python, Spark, JSON Schema) can check the same
# rule: match this pattern, then parse as a real calendar date-time.
TIMESTAMP_PATTERN = r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})"
_TIMESTAMP_RE = re.compile(TIMESTAMP_PATTERN)
_TIMESTAMP_JSON_PATTERN = f"^{TIMESTAMP_PATTERN}$"


def parse_timestamp(value: str) -> datetime | None:
    """The aware datetime of a timestamp string of the accepted shape, or None (no zone, bad date, ...)."""
    if _TIMESTAMP_RE.fullmatch(value) is None:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:  # matches the shape but is no calendar date-time (month 13, 25:00, ...)
        return None


_PATTERNS: dict[str, re.Pattern[str]] = {}


def _compiled(pattern: str) -> re.Pattern[str]:
    compiled = _PATTERNS.get(pattern)
    if compiled is None:
        compiled = _PATTERNS[pattern] = re.compile(pattern)
    return compiled


def _json_type(value: Any) -> str:
    """The JSON name of a Python value's type, for messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, Mapping):
        return "object"
    if isinstance(value, list | tuple):
        return "array"
    return type(value).__name__
