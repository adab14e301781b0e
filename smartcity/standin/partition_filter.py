"""Glue's partition ``Expression`` (GetPartitions, GlueCatalogPartitionSensor): a SQL-like filter on keys.

The expression is parsed with sqlglot and must only use comparisons, boolean logic, IN, BETWEEN, LIKE and
IS [NOT] NULL over partition key names and literals (anything else is refused, so no function or file
access ever reaches the engine). It is then evaluated by DuckDB over a table of the partitions' values,
typed by the partition keys' Hive types, as Glue compares them.
"""

from __future__ import annotations

from collections.abc import Sequence

import duckdb
import pyarrow as pa
import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError

from smartcity.standin.errors import invalid_input

_ALLOWED = (
    exp.Column,
    exp.Identifier,
    exp.Literal,
    exp.Boolean,
    exp.Null,
    exp.EQ,
    exp.NEQ,
    exp.GT,
    exp.GTE,
    exp.LT,
    exp.LTE,
    exp.And,
    exp.Or,
    exp.Not,
    exp.Paren,
    exp.In,
    exp.Between,
    exp.Like,
    exp.Is,
    exp.Neg,
)

_NUMERIC = {"tinyint": "BIGINT", "smallint": "BIGINT", "int": "BIGINT", "integer": "BIGINT", "bigint": "BIGINT"}
_OTHER = {"date": "DATE", "double": "DOUBLE", "float": "DOUBLE", "boolean": "BOOLEAN"}


def _duck_type(hive_type: str) -> str:
    base = hive_type.lower().strip()
    return _NUMERIC.get(base) or _OTHER.get(base) or "VARCHAR"


def matching(expression: str, keys: Sequence[tuple[str, str]], partitions: Sequence[Sequence[str]]) -> list[int]:
    """Indexes of the partitions (lists of string values, in key order) that satisfy ``expression``."""
    try:
        tree = sqlglot.parse_one(expression, dialect="hive")
    except SqlglotError as exc:
        raise invalid_input(f"Unsupported expression '{expression}': {_first_line(exc)}") from None
    names = {name.lower() for name, _ in keys}
    for node in tree.walk():
        if not isinstance(node, _ALLOWED):
            raise invalid_input(
                f"Unsupported expression '{expression}': {node.key.upper()} is not allowed in a partition filter"
            )
        if isinstance(node, exp.Column) and (node.table or node.name.lower() not in names):
            raise invalid_input(f"Unknown column '{node.sql()}' in partition filter expression '{expression}'")
    if not partitions:
        return []
    columns = {"__index": pa.array(range(len(partitions)), pa.int64())}
    for position, (name, _) in enumerate(keys):
        columns[name.lower()] = pa.array([values[position] for values in partitions], pa.string())
    table = pa.table(columns)
    casts = ", ".join(f'TRY_CAST("{name.lower()}" AS {_duck_type(kind)}) AS "{name.lower()}"' for name, kind in keys)
    condition = tree.sql(dialect="duckdb")
    con = duckdb.connect()
    try:
        con.register("raw_partitions", table)
        con.execute("SET enable_external_access = false")
        con.execute("SET lock_configuration = true")
        rows = con.execute(
            f"SELECT __index FROM (SELECT __index, {casts} FROM raw_partitions) WHERE {condition} ORDER BY 1"
        ).fetchall()
    except duckdb.Error as exc:
        raise invalid_input(f"Unsupported expression '{expression}': {_first_line(exc)}") from None
    finally:
        con.close()
    return [row[0] for row in rows]


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
