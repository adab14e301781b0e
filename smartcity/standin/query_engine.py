"""Running one Athena query for real: Athena (Trino) SQL -> sqlglot -> DuckDB over the catalog's tables.

1. The statement is parsed with sqlglot's Athena dialect; only queries (SELECT / WITH / VALUES / set
   operations) are accepted, anything else fails as Athena fails an unsupported statement.
2. Every table reference is resolved in the Glue catalog (``[awsdatacatalog.][db.]table``, the query's
   database by default) and replaced by a pyarrow dataset of exactly the files Athena would read.
3. The query is written out in DuckDB's dialect and run in a fresh in-memory DuckDB with file access
   disabled (the datasets are the only way to data), in record batches, so large results stream.
4. Values are rendered as Athena renders them (``2024-01-01 00:00:00.000``, ``true``, NULL as no value) and
   written both to ``<OutputLocation>/<id>.csv`` (Athena's CSV: header row, every value quoted) with its
   ``.csv.metadata``, and to a local Parquet file from which GetQueryResults serves pages.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, SqlglotError

from smartcity.standin.glue_catalog import GlueCatalog
from smartcity.standin.lake import LocationError, S3Location
from smartcity.standin.mirror import LakeMirror
from smartcity.standin.tables import HiveTypeError, table_source

BATCH_ROWS = 50_000
PAGE_GROUP_ROWS = 1_000  # Parquet row-group size of stored results: one page reads one or two groups
QUERY_TYPES = (exp.Select, exp.Union, exp.Intersect, exp.Except, exp.Values)
# What an ExecutionParameter may be made of: literals, typed literals (TIMESTAMP '…' parses as a Cast) and signs.
PARAMETER_NODES = (exp.Literal, exp.Boolean, exp.Null, exp.Neg, exp.Cast, exp.DataType, exp.DataTypeParam)


class QueryFailed(Exception):
    """A query that ends FAILED; ``reason`` is Athena's StateChangeReason."""

    def __init__(self, name: str, message: str, *, category: int = 2, error_type: int = 1000) -> None:
        super().__init__(f"{name}: {message}")
        self.reason = f"{name}: {message}"
        self.category = category
        self.error_type = error_type


class QueryCancelled(Exception):
    pass


class ScanLimitExceeded(QueryCancelled):
    """The work group's BytesScannedCutoffPerQuery is below what the query would read: Athena cancels it."""

    def __init__(self, scanned: int) -> None:
        super().__init__(scanned)
        self.scanned = scanned


@dataclass
class Outcome:
    columns: list[dict[str, Any]]
    rows: int
    scanned_bytes: int
    planning_ms: int
    engine_ms: int


@dataclass
class Execution:
    """Handle of a running query, so StopQueryExecution can interrupt DuckDB."""

    cancelled: threading.Event = field(default_factory=threading.Event)
    connection: duckdb.DuckDBPyConnection | None = None

    def cancel(self) -> None:
        self.cancelled.set()
        if self.connection is not None:
            with contextlib.suppress(duckdb.Error):
                self.connection.interrupt()


def _position(table: exp.Table) -> str:
    """Athena's ``line L:C: `` prefix for a table reference (sqlglot records where each identifier ends)."""
    first = table.parts[0] if table.parts else table.this
    meta = first.meta if isinstance(first, exp.Expression) and isinstance(first.meta, dict) else {}
    if "line" in meta and "col" in meta:
        return f"line {meta['line']}:{max(meta['col'] - len(first.name) + 1, 1)}: "
    return ""


def parse(sql: str, parameters: list[str] | None) -> exp.Expression:
    """Parse one Athena statement; ``?`` placeholders are bound to ExecutionParameters (SQL literals)."""
    try:
        statements = [statement for statement in sqlglot.parse(sql, dialect="athena") if statement is not None]
    except ParseError as exc:
        error = exc.errors[0] if exc.errors else {}
        where = f"line {error.get('line')}:{error.get('col')}: " if error.get("line") else ""
        raise QueryFailed("SYNTAX_ERROR", f"{where}{error.get('description') or exc}") from None
    except SqlglotError as exc:
        raise QueryFailed("SYNTAX_ERROR", str(exc).splitlines()[0]) from None
    if not statements:
        raise QueryFailed("SYNTAX_ERROR", "line 1:1: empty query")
    if len(statements) > 1:
        raise QueryFailed("SYNTAX_ERROR", "Only one sql statement is allowed.")
    tree = statements[0]
    placeholders = list(tree.find_all(exp.Placeholder))
    if len(placeholders) != len(parameters or []):
        raise QueryFailed(
            "INVALID_PARAMETER_USAGE",
            f"Incorrect number of parameters: expected {len(placeholders)} but found {len(parameters or [])}",
        )
    for placeholder, literal in zip(placeholders, parameters or [], strict=True):
        try:
            value = sqlglot.parse_one(literal, dialect="athena")
        except SqlglotError:
            raise QueryFailed("INVALID_PARAMETER_USAGE", f"Invalid execution parameter {literal!r}") from None
        # Every node, not just the top one: CAST((SELECT ...) AS VARCHAR) is a Cast at the top.
        if not all(isinstance(node, PARAMETER_NODES) for node in value.walk()):
            raise QueryFailed("INVALID_PARAMETER_USAGE", f"Execution parameter {literal!r} is not a literal")
        placeholder.replace(value)
    return tree


def statement_kind(tree: exp.Expression) -> tuple[str, str]:
    """(StatementType, SubstatementType) as Athena reports them."""
    if isinstance(tree, QUERY_TYPES):
        return "DML", "SELECT"
    if isinstance(tree, exp.Insert):
        return "DML", "INSERT"
    if isinstance(tree, exp.Create | exp.Drop | exp.Alter):
        return "DDL", f"{tree.key.upper()}_{str(tree.args.get('kind') or '').upper()}".strip("_")
    return "UTILITY", tree.key.upper()


class QueryEngine:
    def __init__(self, catalog: GlueCatalog, results_dir: Path, mirror: LakeMirror, memory_limit: str = "2GB") -> None:
        self.catalog = catalog
        self.lake = catalog.lake
        self.mirror = mirror
        self.results_dir = results_dir
        self.results_dir.mkdir(parents=True, exist_ok=True)
        self.memory_limit = memory_limit

    def result_path(self, query_id: str) -> Path:
        return self.results_dir / f"{query_id}.parquet"

    def run(
        self,
        query_id: str,
        tree: exp.Expression,
        database: str,
        output: S3Location,
        execution: Execution,
        scan_limit: int | None = None,
    ) -> Outcome:
        started = time.perf_counter()
        if not isinstance(tree, QUERY_TYPES):
            kind = statement_kind(tree)[1].replace("_", " ")
            raise QueryFailed(
                "NOT_SUPPORTED", f"{kind} statements are not supported by the local stand-in; only queries are."
            )
        con = duckdb.connect(config={"threads": 2, "memory_limit": self.memory_limit})
        execution.connection = con
        try:
            scanned = self._bind_tables(con, tree, database)
            if scan_limit is not None and scanned > scan_limit:
                raise ScanLimitExceeded(scanned)
            # From here on the query reaches files only through the views: the mirror, nothing else.
            con.execute(f"SET allowed_directories = [{_sql_string(str(self.mirror.root) + '/')}]")
            con.execute("SET enable_external_access = false")
            con.execute("SET lock_configuration = true")
            sql = _name_like_athena(tree).sql(dialect="duckdb")
            planning_ms = int((time.perf_counter() - started) * 1000)
            if execution.cancelled.is_set():
                raise QueryCancelled
            engine_started = time.perf_counter()
            columns, rendered = self._describe(con, sql)
            reader = con.sql(rendered).to_arrow_reader(BATCH_ROWS)
            rows = self._write_results(query_id, reader, columns, output)
            return Outcome(columns, rows, scanned, planning_ms, int((time.perf_counter() - engine_started) * 1000))
        except duckdb.InterruptException:
            raise QueryCancelled from None
        except duckdb.Error as exc:
            if execution.cancelled.is_set():
                raise QueryCancelled from None
            raise _translate(exc) from None
        except pa.ArrowException as exc:
            raise QueryFailed("HIVE_BAD_DATA", _first_line(exc), error_type=1001) from None
        finally:
            execution.connection = None
            con.close()

    def _bind_tables(self, con: duckdb.DuckDBPyConnection, tree: exp.Expression, database: str) -> int:
        ctes = {cte.alias_or_name.lower() for cte in tree.find_all(exp.CTE)}
        scanned, bound = 0, {}
        for table in list(tree.find_all(exp.Table)):
            if not isinstance(table.this, exp.Identifier):
                raise QueryFailed("FUNCTION_NOT_FOUND", f"{_position(table)}Table functions are not supported")
            name, db, catalog = table.name.lower(), table.db.lower(), table.catalog.lower()
            if not db and name in ctes:
                continue
            if catalog and catalog != "awsdatacatalog":
                raise QueryFailed("CATALOG_NOT_FOUND", f"{_position(table)}Catalog '{catalog}' does not exist")
            db = db or database.lower()
            if db == "information_schema":
                raise QueryFailed("NOT_SUPPORTED", f"{_position(table)}information_schema is not available locally")
            key = (db, name)
            if key not in bound:
                doc = self.catalog.store.get("table", db, name)
                if doc is None:
                    if self.catalog.store.get("database", "", db) is None:
                        raise QueryFailed("SCHEMA_NOT_FOUND", f"{_position(table)}Schema '{db}' does not exist")
                    raise QueryFailed(
                        "TABLE_NOT_FOUND", f"{_position(table)}Table 'awsdatacatalog.{db}.{name}' does not exist"
                    )
                view = f"__table_{len(bound)}"
                try:
                    source = table_source(self.lake, doc, self.catalog.partitions(db, name))
                    source.register(con, view, self.lake, self.mirror)
                except LocationError as exc:
                    raise QueryFailed("PERMISSION_DENIED", f"Table {db}.{name}: {exc}") from None
                except HiveTypeError as exc:
                    raise QueryFailed("HIVE_UNSUPPORTED_FORMAT", f"Table {db}.{name}: {exc}") from None
                except OSError as exc:
                    raise QueryFailed(
                        "HIVE_CANNOT_OPEN_SPLIT", f"Table {db}.{name}: {_first_line(exc)}", error_type=1001
                    ) from None
                bound[key] = view
                scanned += source.bytes
            alias = table.args.get("alias") or exp.TableAlias(this=exp.to_identifier(name))
            table.replace(exp.Table(this=exp.to_identifier(bound[key]), alias=alias))
        return scanned

    def _describe(self, con: duckdb.DuckDBPyConnection, sql: str) -> tuple[list[dict[str, Any]], str]:
        """Result columns (Athena's ColumnInfo) and the query wrapped to render values as Athena does."""
        described = con.execute(f"DESCRIBE {sql}").fetchall()
        columns, outputs, aliases = [], [], []
        for index, (name, duck_type, *_rest) in enumerate(described):
            alias = f"c{index}"
            aliases.append(alias)
            columns.append(column_info(name, duck_type))
            outputs.append(f"{_render(alias, duck_type)} AS {alias}")
        if not outputs:
            return columns, sql
        return columns, f"SELECT {', '.join(outputs)} FROM ({sql}) AS __q({', '.join(aliases)})"

    def _write_results(
        self, query_id: str, reader: pa.RecordBatchReader, columns: list[dict[str, Any]], output: S3Location
    ) -> int:
        names = [column["Name"] for column in columns]
        schema = pa.schema([pa.field(name, pa.string()) for name in names])
        local = self.result_path(query_id)
        rows = 0
        options = pacsv.WriteOptions(include_header=True, quoting_style="all_valid")
        try:
            with (
                self.lake.fs.open_output_stream(output.fs_path) as sink,
                pacsv.CSVWriter(sink, schema, write_options=options) as csv,
                pq.ParquetWriter(local, schema) as store,
            ):
                for batch in reader:
                    batch = pa.RecordBatch.from_arrays(
                        [column.cast(pa.string()) for column in batch.columns], schema=schema
                    )
                    csv.write_batch(batch)
                    store.write_batch(batch, row_group_size=PAGE_GROUP_ROWS)
                    rows += batch.num_rows
                if rows == 0:  # an empty result still has its (empty) header-only CSV and result file
                    store.write_table(schema.empty_table())
            with self.lake.fs.open_output_stream(output.fs_path + ".metadata") as sink:
                sink.write(json.dumps({"ColumnInfo": columns}).encode())
        except OSError as exc:
            local.unlink(missing_ok=True)
            raise QueryFailed(
                "PERMISSION_DENIED",
                f"Unable to write query results to {output.uri}: {_first_line(exc)}",
                category=1,
                error_type=401,
            ) from None
        return rows


def _name_like_athena(tree: exp.Expression) -> exp.Expression:
    """Unnamed result columns are ``_col0``, ``_col1`` ... (by position), as Athena names them."""
    select = tree if isinstance(tree, exp.Select) else None
    if select is None:
        return tree
    projections = []
    for index, projection in enumerate(select.expressions):
        if isinstance(projection, exp.Alias | exp.Column | exp.Star):
            projections.append(projection)
        else:
            projections.append(exp.alias_(projection, f"_col{index}"))
    return select.select(*projections, append=False, copy=True)


def read_page(path: Path, offset: int, limit: int) -> list[list[str | None]]:
    """Rows ``offset .. offset+limit`` of a stored result, reading only the row groups they are in."""
    if limit <= 0:
        return []
    handle = pq.ParquetFile(path)
    start, groups, first = 0, [], None
    for index in range(handle.num_row_groups):
        size = handle.metadata.row_group(index).num_rows
        if start + size > offset and start < offset + limit:
            groups.append(index)
            first = start if first is None else first
        start += size
    if not groups:
        return []
    table = handle.read_row_groups(groups).slice(offset - first, limit)
    return (
        [list(row) for row in zip(*(column.to_pylist() for column in table.columns), strict=True)]
        if table.num_columns
        else []
    )


def result_rows(path: Path) -> int:
    return pq.ParquetFile(path).metadata.num_rows


_TIMESTAMP = ("TIMESTAMP", "TIMESTAMP_NS", "TIMESTAMP_MS", "TIMESTAMP_S", "DATETIME")


def _render(alias: str, duck_type: str) -> str:
    upper = duck_type.upper()
    if upper in _TIMESTAMP:
        return f"strftime({alias}, '%Y-%m-%d %H:%M:%S.%g')"
    if upper == "TIMESTAMP WITH TIME ZONE":
        return f"strftime(timezone('UTC', {alias}), '%Y-%m-%d %H:%M:%S.%g') || ' UTC'"
    return f"CAST({alias} AS VARCHAR)"


_ATHENA_TYPES = {
    "BOOLEAN": ("boolean", 0),
    "TINYINT": ("tinyint", 3),
    "SMALLINT": ("smallint", 5),
    "UTINYINT": ("smallint", 5),
    "INTEGER": ("integer", 10),
    "USMALLINT": ("integer", 10),
    "BIGINT": ("bigint", 19),
    "UINTEGER": ("bigint", 19),
    "UBIGINT": ("decimal", 20),
    "HUGEINT": ("decimal", 38),
    "FLOAT": ("float", 17),
    "DOUBLE": ("double", 17),
    "VARCHAR": ("varchar", 2147483647),
    "UUID": ("varchar", 2147483647),
    "DATE": ("date", 0),
    "TIME": ("time", 3),
    "INTERVAL": ("interval day to second", 0),
    "BLOB": ("varbinary", 2147483647),
    "TIMESTAMP WITH TIME ZONE": ("timestamp with time zone", 3),
    "JSON": ("json", 0),
    "NULL": ("unknown", 0),
}


def column_info(name: str, duck_type: str) -> dict[str, Any]:
    """Athena's ColumnInfo for a DuckDB result column."""
    upper = duck_type.upper()
    scale = 0
    if upper in _TIMESTAMP:
        kind, precision = "timestamp", 3
    elif upper.startswith("DECIMAL"):
        kind = "decimal"
        numbers = (
            [int(part) for part in upper[upper.find("(") + 1 : upper.find(")")].split(",")] if "(" in upper else [18, 3]
        )
        precision, scale = numbers[0], numbers[1] if len(numbers) > 1 else 0
    elif upper.endswith("]"):
        kind, precision = "array", 0
    elif upper.startswith("STRUCT"):
        kind, precision = "row", 0
    elif upper.startswith("MAP"):
        kind, precision = "map", 0
    else:
        kind, precision = _ATHENA_TYPES.get(upper, ("varchar", 2147483647))
    return {
        "CatalogName": "hive",
        "SchemaName": "",
        "TableName": "",
        "Name": name,
        "Label": name,
        "Type": kind,
        "Precision": precision,
        "Scale": scale,
        "Nullable": "UNKNOWN",
        "CaseSensitive": kind == "varchar",
    }


def _sql_string(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _translate(exc: duckdb.Error) -> QueryFailed:
    """DuckDB's error as the Athena error a user would see for the same mistake."""
    message = _first_line(exc).split(": ", 1)[-1] if ": " in _first_line(exc) else _first_line(exc)
    if isinstance(exc, duckdb.ParserException):
        return QueryFailed("SYNTAX_ERROR", message)
    if isinstance(exc, duckdb.BinderException):
        if "not found in FROM clause" in message or "Referenced column" in message:
            column = message.split('"')[1] if '"' in message else message
            return QueryFailed("COLUMN_NOT_FOUND", f"Column '{column}' cannot be resolved")
        if "must appear in the GROUP BY clause" in message:
            return QueryFailed("EXPRESSION_NOT_AGGREGATE", message)
        if "No function matches" in message or "Could not choose" in message:
            return QueryFailed("FUNCTION_NOT_FOUND", message)
        return QueryFailed("SYNTAX_ERROR", message)
    if isinstance(exc, duckdb.CatalogException):
        if "Function with name" in message or "function" in message.lower():
            return QueryFailed("FUNCTION_NOT_FOUND", message)
        return QueryFailed("TABLE_NOT_FOUND", message)
    if isinstance(exc, duckdb.ConversionException):
        return QueryFailed("INVALID_CAST_ARGUMENT", message, error_type=1001)
    if isinstance(exc, duckdb.OutOfRangeException | duckdb.InvalidInputException):
        return QueryFailed("INVALID_FUNCTION_ARGUMENT", message, error_type=1001)
    if isinstance(exc, duckdb.PermissionException):
        return QueryFailed("PERMISSION_DENIED", message)
    if isinstance(exc, duckdb.OutOfMemoryException):
        return QueryFailed("EXCEEDED_LOCAL_MEMORY_LIMIT", message, category=1, error_type=0)
    if isinstance(exc, duckdb.IOException | duckdb.HTTPException):
        return QueryFailed("HIVE_CANNOT_OPEN_SPLIT", message, error_type=1001)
    return QueryFailed("GENERIC_INTERNAL_ERROR", message, category=1, error_type=200)
