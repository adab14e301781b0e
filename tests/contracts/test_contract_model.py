"""The contract vocabulary on a small test contract: validation rules, JSON Schema, Glue types."""

from __future__ import annotations

import jsonschema
import pytest

from smartcity.contracts.model import (
    FieldSpec,
    FieldType,
    RecordContract,
    Rejection,
    RejectReason,
    parse_timestamp,
)

SAMPLE = RecordContract(
    stream="sample_data",
    schema_version=3,
    description="a contract used only by these tests",
    fields=(
        FieldSpec("event_id", FieldType.STRING, pattern=r"[a-f]{4}"),
        FieldSpec("event_time", FieldType.TIMESTAMP),
        FieldSpec("schema_version", FieldType.INT),
        FieldSpec("count", FieldType.INT, minimum=0, maximum=10),
        FieldSpec("total", FieldType.LONG),
        FieldSpec("ratio", FieldType.DOUBLE, minimum=-1.5, maximum=1.5, unit="1"),
        FieldSpec("colour", FieldType.STRING, enum=("red", "green")),
        FieldSpec("flag", FieldType.BOOLEAN),
        FieldSpec("note", FieldType.STRING, required=False),
    ),
)


def good() -> dict:
    return {
        "event_id": "abcd",
        "event_time": "2025-03-01T06:00:00.250+08:00",
        "schema_version": 3,
        "count": 10,
        "total": 2**40,
        "ratio": -1.5,
        "colour": "green",
        "flag": False,
        "note": "hello",
    }


def test_good_record_has_no_rejections():
    assert SAMPLE.validate(good()) == []


def test_optional_field_may_be_absent_or_null_and_unknown_fields_are_ignored():
    record = good()
    del record["note"]
    record["extra"] = [1, 2]
    assert SAMPLE.validate(record) == []
    assert SAMPLE.validate({**good(), "note": None}) == []


def test_integral_number_is_a_valid_double():
    assert SAMPLE.validate({**good(), "ratio": 1}) == []


@pytest.mark.parametrize(
    ("name", "value", "reason"),
    [
        ("count", "3", RejectReason.WRONG_TYPE),
        ("count", 2.5, RejectReason.WRONG_TYPE),
        ("count", True, RejectReason.WRONG_TYPE),
        ("count", 11, RejectReason.OUT_OF_RANGE),
        ("count", -1, RejectReason.OUT_OF_RANGE),
        ("total", 2**63, RejectReason.OUT_OF_RANGE),
        ("ratio", "0.5", RejectReason.WRONG_TYPE),
        ("ratio", False, RejectReason.WRONG_TYPE),
        ("ratio", 1.5000001, RejectReason.OUT_OF_RANGE),
        ("ratio", float("nan"), RejectReason.OUT_OF_RANGE),
        ("colour", "blue", RejectReason.INVALID_ENUM),
        ("colour", 1, RejectReason.WRONG_TYPE),
        ("flag", 0, RejectReason.WRONG_TYPE),
        ("flag", "false", RejectReason.WRONG_TYPE),
        ("event_id", "ABCD", RejectReason.WRONG_TYPE),
        ("event_id", "abcde", RejectReason.WRONG_TYPE),
        ("note", 5, RejectReason.WRONG_TYPE),
        ("event_time", 1740808800, RejectReason.WRONG_TYPE),
        ("event_time", "2025-03-01T06:00:00", RejectReason.BAD_TIMESTAMP),
        ("event_time", "2025-13-01T06:00:00Z", RejectReason.BAD_TIMESTAMP),
        ("event_time", "yesterday", RejectReason.BAD_TIMESTAMP),
        ("event_time", "2025-03-01", RejectReason.BAD_TIMESTAMP),
    ],
)
def test_each_violation_names_its_reason_and_field(name, value, reason):
    rejections = SAMPLE.validate({**good(), name: value})
    assert [(r.reason, r.field) for r in rejections] == [(reason, name)]
    assert rejections[0].detail


@pytest.mark.parametrize("how", ["absent", "null"])
def test_missing_required_field(how):
    record = good()
    if how == "absent":
        del record["colour"]
    else:
        record["colour"] = None
    assert SAMPLE.validate(record) == [
        Rejection(RejectReason.MISSING_FIELD, "colour", f"required field is {how if how == 'null' else 'missing'}")
    ]


def test_all_violations_are_reported_in_field_order():
    record = {**good(), "count": 99, "colour": "blue"}
    del record["event_time"]
    assert [(r.reason, r.field) for r in SAMPLE.validate(record)] == [
        (RejectReason.MISSING_FIELD, "event_time"),
        (RejectReason.OUT_OF_RANGE, "count"),
        (RejectReason.INVALID_ENUM, "colour"),
    ]


@pytest.mark.parametrize("version", [2, 4, "3", True])
def test_other_schema_version_is_unknown_and_not_judged_further(version):
    record = {**good(), "schema_version": version, "count": "not checked"}
    assert [(r.reason, r.field) for r in SAMPLE.validate(record)] == [
        (RejectReason.UNKNOWN_SCHEMA_VERSION, "schema_version")
    ]


def test_missing_schema_version_is_a_missing_field():
    record = good()
    del record["schema_version"]
    assert [(r.reason, r.field) for r in SAMPLE.validate(record)] == [(RejectReason.MISSING_FIELD, "schema_version")]


@pytest.mark.parametrize("payload", [[1, 2], "text", 5, None])
def test_non_object_is_malformed(payload):
    assert [(r.reason, r.field) for r in SAMPLE.validate(payload)] == [(RejectReason.MALFORMED_JSON, None)]


def test_parse_timestamp_accepts_z_and_offsets_as_the_same_instant():
    assert parse_timestamp("2025-03-01T06:00:00Z") == parse_timestamp("2025-03-01T14:00:00+08:00")
    assert parse_timestamp("2025-03-01T06:00:00.123456789Z") is not None
    assert parse_timestamp("2025-03-01 06:00:00Z") is None


def test_topic_field_lookup_and_glue_columns():
    assert SAMPLE.topic == "sample_data"
    assert SAMPLE.field("ratio").unit == "1"
    with pytest.raises(KeyError, match="sample_data has no field 'nope'"):
        SAMPLE.field("nope")
    assert SAMPLE.glue_columns() == [
        ("event_id", "string"),
        ("event_time", "timestamp"),
        ("schema_version", "int"),
        ("count", "int"),
        ("total", "bigint"),
        ("ratio", "double"),
        ("colour", "string"),
        ("flag", "boolean"),
        ("note", "string"),
    ]


def test_json_schema_is_a_valid_schema_that_agrees_on_good_and_bad_records():
    schema = SAMPLE.json_schema()
    validator_class = jsonschema.validators.validator_for(schema)
    validator_class.check_schema(schema)
    validator = validator_class(schema)
    assert list(validator.iter_errors(good())) == []
    bad_records = [
        {**good(), "count": 11},
        {**good(), "colour": "blue"},
        {**good(), "flag": 0},
        {**good(), "event_time": "2025-03-01T06:00:00"},
        {**good(), "schema_version": 2},
        {**good(), "event_id": "ABCD"},
        {k: v for k, v in good().items() if k != "ratio"},
    ]
    for record in bad_records:
        assert SAMPLE.validate(record), record
        assert list(validator.iter_errors(record)), record
    assert list(validator.iter_errors({**good(), "note": None})) == []


@pytest.mark.parametrize(
    "spec",
    [
        lambda: FieldSpec("x", FieldType.INT, enum=("a",)),
        lambda: FieldSpec("x", FieldType.STRING, minimum=0),
        lambda: FieldSpec("x", FieldType.DOUBLE, minimum=2, maximum=1),
        lambda: FieldSpec("x", FieldType.LONG, pattern="a"),
    ],
)
def test_inconsistent_field_specs_are_refused(spec):
    with pytest.raises(ValueError, match="field 'x'"):
        spec()


def test_contract_needs_a_schema_version_field_and_unique_names():
    with pytest.raises(ValueError, match="schema_version"):
        RecordContract("s", 1, "", (FieldSpec("a", FieldType.STRING),))
    with pytest.raises(ValueError, match="duplicate"):
        RecordContract(
            "s",
            1,
            "",
            (FieldSpec("schema_version", FieldType.INT), FieldSpec("schema_version", FieldType.INT)),
        )
