"""Spark types and validation columns derived from a :class:`~smartcity.contracts.model.RecordContract`.

Nothing here repeats a schema: every ``StructType`` and every rule comes from the contract's
:class:`~smartcity.contracts.model.FieldSpec` list, so the job follows the contract module it is given.

Parsing is two-speed, because it runs on every record at full throughput:

* **Fast path** (every record): ``from_json`` with the *wire schema*, the contract's ``StructType`` in which
  free-text string fields are ``VARIANT``. Spark's typed JSON parser is strict for numbers and booleans (a
  string where a double belongs gives null) but lenient for strings (``123`` becomes ``"123"``); parsing the
  free-text fields as VARIANT keeps the JSON type, so ``schema_of_variant`` can tell a string from a number.
  Enum, pattern and timestamp fields stay STRING: the text of a non-string value never passes their checks.
* **Exact path** (only records that fail a fast check): ``try_parse_json`` of the raw value and the
  contract's rules applied to the JSON types, to name the reason as :meth:`RecordContract.validate` would.
  ``CASE WHEN`` evaluates it only for those rows, so valid records never pay for it.

Known, deliberate differences from the Python validator (both reject the record; only the reason differs):
``NaN``/``Infinity`` literals and duplicate keys are not JSON (RFC 8259), so the exact path calls them
``malformed_json`` where Python's lenient ``json.loads`` accepts them.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import (
    ArrayType,
    BooleanType,
    DataType,
    DoubleType,
    IntegerType,
    LongType,
    StringType,
    StructField,
    StructType,
    TimestampType,
    VariantType,
)

from smartcity.contracts.model import (
    INT32_MAX,
    INT32_MIN,
    INT64_MAX,
    INT64_MIN,
    SCHEMA_VERSION_FIELD,
    TIMESTAMP_PATTERN,
    FieldSpec,
    FieldType,
    RecordContract,
    RejectReason,
)

SPARK_TYPES: dict[FieldType, DataType] = {
    FieldType.STRING: StringType(),
    FieldType.INT: IntegerType(),
    FieldType.LONG: LongType(),
    FieldType.DOUBLE: DoubleType(),
    FieldType.BOOLEAN: BooleanType(),
    FieldType.TIMESTAMP: TimestampType(),
}

# schema_of_variant() names of the JSON value kinds (integers parse as BIGINT, fractions as DECIMAL or DOUBLE).
_INTEGRAL = ("BIGINT", "INT", "SMALLINT", "TINYINT")
_JSON_NAMES = {"STRING": "string", "BOOLEAN": "boolean", "VOID": "null"}

PARSED = "_parsed"  # struct column of the fast parse
REJECTIONS = "_rejections"  # array<struct<reason, field, detail>>, empty when valid
_OK = "_fast_ok"


def spark_schema(contract: RecordContract) -> StructType:
    """The lake's row type: every contract field with its Spark type; required fields are not nullable."""
    return StructType(
        [StructField(spec.name, SPARK_TYPES[spec.type], nullable=not spec.required) for spec in contract.fields]
    )


def _needs_variant(spec: FieldSpec) -> bool:
    """Whether the fast parse must keep this field's JSON type (see the module docstring).

    Optional fields always do: a typed parse gives null both for an absent field (fine) and for a value of
    the wrong type (a rejection), and only the JSON type tells them apart.
    """
    if not spec.required:
        return True
    if spec.type is not FieldType.STRING or spec.pattern is not None:
        return False
    if spec.enum is None:
        return True
    # An enum value that is also the text of a JSON literal (``1``, ``true``) would let that literal pass.
    return any(_is_json_literal(value) for value in spec.enum)


def _is_json_literal(text: str) -> bool:
    try:
        return not isinstance(json.loads(text), str)
    except ValueError:
        return False


def wire_schema(contract: RecordContract) -> StructType:
    """The schema ``from_json`` parses with: the contract's, with timestamps as text and free text as VARIANT."""
    fields = []
    for spec in contract.fields:
        if _needs_variant(spec):
            kind: DataType = VariantType()
        elif spec.type is FieldType.TIMESTAMP:
            kind = StringType()
        else:
            kind = SPARK_TYPES[spec.type]
        fields.append(StructField(spec.name, kind, nullable=True))
    return StructType(fields)


def _anchored(pattern: str) -> str:
    return f"^(?:{pattern})$"


def _timestamp_value(text: Column) -> Column:
    """The UTC instant of a timestamp string of the contract's shape, or null (no zone, no such date, ...)."""
    return F.when(text.rlike(_anchored(TIMESTAMP_PATTERN)), text.try_cast(TimestampType()))


def _rejection(reason: RejectReason, spec_name: str | None, detail: Column) -> Column:
    return F.struct(
        F.lit(reason.value).alias("reason"),
        F.lit(spec_name).cast(StringType()).alias("field"),
        detail.alias("detail"),
    )


def _fmt(template: str, *values: Column) -> Column:
    return F.format_string(template, *values)


# ----------------------------------------------------------------------------- fast path


_VARIANT_KINDS: dict[FieldType, tuple[str, ...]] = {
    FieldType.STRING: ("STRING",),
    FieldType.TIMESTAMP: ("STRING",),
    FieldType.BOOLEAN: ("BOOLEAN",),
    FieldType.INT: _INTEGRAL,
    FieldType.LONG: _INTEGRAL,
}


def _variant_value(spec: FieldSpec, node: Column) -> Column:
    """The typed value of a VARIANT node when its JSON kind is the field's, else null."""
    kind = F.schema_of_variant(node)
    if spec.type is FieldType.DOUBLE:
        accepted = kind.isin(*_INTEGRAL, "DOUBLE") | kind.startswith("DECIMAL")
    else:
        accepted = kind.isin(*_VARIANT_KINDS[spec.type])
    if spec.type is FieldType.TIMESTAMP:
        return F.when(accepted, _timestamp_value(F.try_variant_get(node, "$", "string")))
    return F.when(accepted, F.try_variant_get(node, "$", SPARK_TYPES[spec.type].simpleString()))


def _fast_value(spec: FieldSpec) -> Column:
    """The typed value of ``spec`` from the fast parse, null when absent, null or of the wrong JSON type."""
    parsed = F.col(PARSED).getField(spec.name)
    if _needs_variant(spec):
        return _variant_value(spec, parsed)
    if spec.type is FieldType.TIMESTAMP:
        return _timestamp_value(parsed)
    return parsed


def _constraints_hold(spec: FieldSpec, value: Column) -> Column:
    """True when a present value meets the field's constraints (enum, pattern, range, finite)."""
    checks: list[Column] = []
    if spec.enum is not None:
        checks.append(value.isin(list(spec.enum)))
    if spec.pattern is not None:
        checks.append(value.rlike(_anchored(spec.pattern)))
    if spec.type is FieldType.DOUBLE:
        checks.append(~F.isnan(value) & (F.abs(value) != float("inf")))
    if spec.minimum is not None:
        checks.append(value >= F.lit(spec.minimum))
    if spec.maximum is not None:
        checks.append(value <= F.lit(spec.maximum))
    result = F.lit(True)
    for check in checks:
        result = result & check
    return result


def fast_columns(contract: RecordContract) -> tuple[list[Column], Column]:
    """The typed contract columns (named as the fields) and a boolean column: does the row pass every check?"""
    values = [_fast_value(spec).alias(spec.name) for spec in contract.fields]
    ok = F.col(PARSED).isNotNull()
    for spec in contract.fields:
        value = F.col(spec.name)
        present_ok = _constraints_hold(spec, value)
        if spec.name == SCHEMA_VERSION_FIELD:
            present_ok = value == F.lit(contract.schema_version)
        if spec.required:
            ok = ok & value.isNotNull() & present_ok
        else:
            # An optional field may be absent or JSON null, but a present value that did not type (wrong
            # JSON kind) must be judged by the exact path. Optional fields are VARIANT in the wire schema.
            node = F.col(PARSED).getField(spec.name)
            absent = node.isNull() | (F.schema_of_variant(node) == "VOID")
            ok = ok & F.when(value.isNull(), absent).otherwise(present_ok)
    return values, F.coalesce(ok, F.lit(False))


# ----------------------------------------------------------------------------- exact path
#
# The exact path is written as SQL text: it is only evaluated for rejected rows, but built for every query
# start, and one SQL expression per field is parsed by Spark in one call where the Column API would need
# thousands of Python-to-JVM calls. It works on helper columns, one projection per step, so each
# sub-expression (a field's VARIANT, its JSON kind, ...) is computed once per row.

_RAW = "_x"  # the record as VARIANT, only for rows that failed the fast checks (NULL for the others)
_ROOT_KIND = f"schema_of_variant({_RAW})"
_INTEGRAL_SQL = ", ".join(f"'{k}'" for k in _INTEGRAL)


def _node(spec: FieldSpec) -> str:
    """The field's VARIANT value (SQL NULL when absent)."""
    return f"variant_get({_RAW}, {_q('$.' + spec.name)}, 'variant')"


def _kind_of(spec: FieldSpec) -> str:
    """Its JSON kind as schema_of_variant names it (STRING, BIGINT, DECIMAL(3,1), VOID, ...)."""
    return f"schema_of_variant({_node(spec)})"


def _name_of(spec: FieldSpec) -> str:
    """Its JSON type name for messages (string, number, ...)."""
    return _json_name_sql(_kind_of(spec))


def _text_of(spec: FieldSpec) -> str:
    """The value as text (strings as they are, others as JSON)."""
    return f"coalesce(try_variant_get({_node(spec)}, '$', 'string'), to_json({_node(spec)}))"


def _q(text: str) -> str:
    """A Spark SQL string literal."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


# An integral JSON literal beyond int64 parses as DECIMAL(p,0) with p >= 19.
_OVERFLOW_KIND = _q(r"^DECIMAL\((19|[2-9]\d),0\)$")


def _template(text: str) -> str:
    """A format_string template that prints ``text`` literally (apart from its %s slots)."""
    return _q(text.replace("%", "%%").replace("%%s", "%s"))


def _reject_sql(reason: RejectReason, field_name: str | None, detail_sql: str) -> str:
    field_sql = _q(field_name) if field_name is not None else "CAST(NULL AS STRING)"
    return f"named_struct('reason', {_q(reason.value)}, 'field', {field_sql}, 'detail', {detail_sql})"


def _json_name_sql(kind: str) -> str:
    """The JSON type name used in messages (as the Python validator words them)."""
    return (
        f"CASE WHEN {kind} LIKE 'OBJECT%' THEN 'object' WHEN {kind} LIKE 'ARRAY%' THEN 'array' "
        f"WHEN {kind} = 'STRING' THEN 'string' WHEN {kind} = 'BOOLEAN' THEN 'boolean' "
        f"WHEN {kind} = 'VOID' THEN 'null' ELSE 'number' END"
    )


def _field_rejection_sql(spec: FieldSpec) -> str:
    """NULL when the field is fine, else the struct of its first violation (the Python validator's order)."""
    node, kind, got, text = _node(spec), _kind_of(spec), _name_of(spec), _text_of(spec)

    def reject(reason: RejectReason, template: str, *args: str) -> str:
        detail = f"format_string({_template(template)}, {', '.join(args)})" if args else _q(template)
        return _reject_sql(reason, spec.name, detail)

    missing = reject(RejectReason.MISSING_FIELD, "required field is missing") if spec.required else "NULL"
    null = reject(RejectReason.MISSING_FIELD, "required field is null") if spec.required else "NULL"
    cases = [(f"{node} IS NULL", missing), (f"{kind} = 'VOID'", null)]
    if spec.type is FieldType.TIMESTAMP:
        pattern = _q(_anchored(TIMESTAMP_PATTERN))
        cases += [
            (f"{kind} <> 'STRING'", reject(RejectReason.WRONG_TYPE, "expected ISO-8601 string, got %s", got)),
            (
                f"NOT ({text} RLIKE {pattern}) OR try_cast({text} AS TIMESTAMP) IS NULL",
                reject(RejectReason.BAD_TIMESTAMP, "'%s' is not ISO-8601 with a zone", text),
            ),
        ]
    elif spec.type is FieldType.STRING:
        cases.append((f"{kind} <> 'STRING'", reject(RejectReason.WRONG_TYPE, "expected string, got %s", got)))
        if spec.enum is not None:
            allowed = "[" + ", ".join(f"'{v}'" for v in spec.enum) + "]"
            values = ", ".join(_q(v) for v in spec.enum)
            cases.append(
                (f"NOT ({text} IN ({values}))", reject(RejectReason.INVALID_ENUM, f"'%s' not one of {allowed}", text))
            )
        if spec.pattern is not None:
            cases.append(
                (
                    f"NOT ({text} RLIKE {_q(_anchored(spec.pattern))})",
                    reject(RejectReason.WRONG_TYPE, f"'%s' does not match {spec.pattern}", text),
                )
            )
    elif spec.type is FieldType.BOOLEAN:
        cases.append((f"{kind} <> 'BOOLEAN'", reject(RejectReason.WRONG_TYPE, "expected boolean, got %s", got)))
    else:
        cases += _numeric_cases(spec, node, kind, got, text, reject)
    return "CASE " + " ".join(f"WHEN {when} THEN {then}" for when, then in cases) + " END"


def _numeric_cases(
    spec: FieldSpec, node: str, kind: str, got: str, text: str, reject: Callable[..., str]
) -> list[tuple[str, str]]:
    kind_name = spec.type.value
    number = f"try_variant_get({node}, '$', 'double')"
    cases = [
        (
            f"NOT ({kind} IN ({_INTEGRAL_SQL}, 'DOUBLE') OR {kind} LIKE 'DECIMAL%')",
            reject(RejectReason.WRONG_TYPE, f"expected {kind_name}, got %s", got),
        )
    ]
    if spec.type is FieldType.DOUBLE:
        cases.append(
            (
                f"isnan({number}) OR abs({number}) = CAST('Infinity' AS DOUBLE)",
                reject(RejectReason.OUT_OF_RANGE, "%s is not finite", text),
            )
        )
    else:
        # An integral JSON literal beyond int64 parses as DECIMAL(p,0) with p >= 19; any other non-BIGINT
        # number is a fraction in JSON (12.5, 1e3 and 12.0 alike).
        low, high = (INT32_MIN, INT32_MAX) if spec.type is FieldType.INT else (INT64_MIN, INT64_MAX)
        whole = f"try_variant_get({node}, '$', 'bigint')"
        cases += [
            (
                f"{kind} RLIKE {_OVERFLOW_KIND}",
                reject(RejectReason.OUT_OF_RANGE, f"%s overflows {kind_name}", text),
            ),
            (
                f"NOT ({kind} IN ({_INTEGRAL_SQL}))",
                reject(RejectReason.WRONG_TYPE, f"expected {kind_name}, got a fraction"),
            ),
            (
                f"{whole} < {low} OR {whole} > {high}",
                reject(RejectReason.OUT_OF_RANGE, f"%s overflows {kind_name}", text),
            ),
        ]
    if spec.minimum is not None:
        cases.append(
            (
                f"{number} < CAST({_q(repr(float(spec.minimum)))} AS DOUBLE)",
                reject(RejectReason.OUT_OF_RANGE, f"%s < minimum {spec.minimum}", text),
            )
        )
    if spec.maximum is not None:
        cases.append(
            (
                f"{number} > CAST({_q(repr(float(spec.maximum)))} AS DOUBLE)",
                reject(RejectReason.OUT_OF_RANGE, f"%s > maximum {spec.maximum}", text),
            )
        )
    return cases


def _rejections_sql(contract: RecordContract, failed: str) -> str:
    """Every violation of a row, in the Python validator's order; an empty array when not ``failed``."""
    version = contract.field(SCHEMA_VERSION_FIELD)
    node, kind = _node(version), _kind_of(version)
    malformed_detail = (
        f"CASE WHEN {_RAW} IS NULL THEN 'not valid JSON' "
        f"ELSE format_string('expected a JSON object, got %s', {_json_name_sql(_ROOT_KIND)}) END"
    )
    version_ok = (
        f"({kind} IN ({_INTEGRAL_SQL}, 'DOUBLE') OR {kind} LIKE 'DECIMAL%') "
        f"AND try_variant_get({node}, '$', 'double') = {float(contract.schema_version)!r}"
    )
    wrong_version = _reject_sql(
        RejectReason.UNKNOWN_SCHEMA_VERSION,
        SCHEMA_VERSION_FIELD,
        f"format_string({_template(f'%s is not {contract.stream} schema version {contract.schema_version}')}, "
        f"to_json({node}))",
    )
    per_field = ", ".join(_field_rejection_sql(spec) for spec in contract.fields)
    return (
        f"CASE WHEN NOT {failed} THEN CAST(array() AS {exact_type().simpleString()}) "
        f"WHEN {_RAW} IS NULL OR NOT ({_ROOT_KIND} LIKE 'OBJECT%') "
        f"THEN array({_reject_sql(RejectReason.MALFORMED_JSON, None, malformed_detail)}) "
        f"WHEN {node} IS NULL OR {kind} = 'VOID' "
        f"THEN array({_reject_sql(RejectReason.MISSING_FIELD, SCHEMA_VERSION_FIELD, _q('required field is missing'))}) "
        f"WHEN NOT ({version_ok}) THEN array({wrong_version}) "
        f"ELSE filter(array({per_field}), r -> r IS NOT NULL) END"
    )


def _with_exact_rejections(df: DataFrame, contract: RecordContract, failed: str, value: str) -> DataFrame:
    """``df`` plus ``_rejections``: empty for rows not ``failed``, every violation (in order) for the others.

    Only ``_x`` (the record as VARIANT, NULL for rows that passed) is projected; everything else is inside the
    CASE, so rows that passed the fast checks pay for one NULL column and one test, nothing more.
    """
    staged = df.selectExpr("*", f"CASE WHEN {failed} THEN try_parse_json({value}) END AS {_RAW}")
    return staged.withColumn(REJECTIONS, F.expr(_rejections_sql(contract, failed))).drop(_RAW)


def exact_type() -> DataType:
    """The type of ``_rejections``."""
    return ArrayType(
        StructType(
            [
                StructField("reason", StringType()),
                StructField("field", StringType()),
                StructField("detail", StringType()),
            ]
        )
    )


def validated(df: DataFrame, contract: RecordContract, value: str = "value") -> DataFrame:
    """``df`` with the contract's typed fields (named as in the contract) and ``_rejections`` appended.

    ``value`` names the string column holding the JSON text; ``df``'s columns are kept. A row is valid when
    ``_rejections`` is empty; otherwise its typed fields may be partly null and the first rejection is the
    reason.
    """
    typed, ok = fast_columns(contract)
    parsed = df.withColumn(PARSED, F.from_json(F.col(value), wire_schema(contract)))
    checked = parsed.select("*", *typed).withColumn(_OK, ok).drop(PARSED)
    return _with_exact_rejections(checked, contract, f"NOT {_OK}", f"`{value}`").drop(_OK)
