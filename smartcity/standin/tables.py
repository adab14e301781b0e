"""What Athena reads for a catalog table, made available to DuckDB as a view named after the table.

As in Athena, a partitioned table reads only its catalogued partitions, files whose names start with ``_``
or ``.`` are ignored, and the columns have the catalog's names and types (files missing a column read it
as NULL). Two ways to the data:

* **native** (the usual case: Hive-style partition folders, primitive column types): the files are
  mirrored locally (:mod:`mirror`) and read by DuckDB's own Parquet reader, the fastest way there is;
* **arrow** (anything else, e.g. partitions whose locations do not spell their values): a pyarrow dataset
  over S3 whose fragments carry the catalog's partition values.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from smartcity.standin.lake import Lake, S3Location
from smartcity.standin.mirror import LakeMirror

_PRIMITIVES = {
    "string": pa.string(),
    "varchar": pa.string(),
    "char": pa.string(),
    "tinyint": pa.int8(),
    "smallint": pa.int16(),
    "int": pa.int32(),
    "integer": pa.int32(),
    "bigint": pa.int64(),
    "float": pa.float32(),
    "real": pa.float32(),
    "double": pa.float64(),
    "boolean": pa.bool_(),
    "timestamp": pa.timestamp("us"),
    "date": pa.date32(),
    "binary": pa.binary(),
}


class HiveTypeError(ValueError):
    pass


def arrow_type(hive: str) -> pa.DataType:
    """Parse a Glue/Hive column type (``bigint``, ``decimal(10,2)``, ``array<struct<a:int>>`` ...)."""
    parsed, rest = _parse(hive.strip().lower())
    if rest.strip():
        raise HiveTypeError(f"unexpected {rest!r} in type {hive!r}")
    return parsed


def _parse(text: str) -> tuple[pa.DataType, str]:
    match = re.match(r"\s*([a-z_]+)", text)
    if not match:
        raise HiveTypeError(f"cannot parse type {text!r}")
    name, rest = match.group(1), text[match.end() :].lstrip()
    if name in ("varchar", "char") and rest.startswith("("):
        return pa.string(), rest[rest.index(")") + 1 :]
    if name == "decimal":
        precision, scale = 10, 0
        if rest.startswith("("):
            inner, rest = rest[1:].split(")", 1)
            numbers = [int(part) for part in inner.split(",")]
            precision, scale = numbers[0], numbers[1] if len(numbers) > 1 else 0
        return pa.decimal128(precision, scale), rest
    if name in _PRIMITIVES:
        return _PRIMITIVES[name], rest
    if not rest.startswith("<"):
        raise HiveTypeError(f"unknown type {name!r}")
    rest = rest[1:]
    if name == "array":
        item, rest = _parse(rest)
        return pa.list_(item), _expect(rest, ">")
    if name == "map":
        key, rest = _parse(rest)
        value, rest = _parse(_expect(rest, ","))
        return pa.map_(key, value), _expect(rest, ">")
    if name == "struct":
        fields = []
        while True:
            field_match = re.match(r"\s*([^:<>,\s]+)\s*:", rest)
            if not field_match:
                raise HiveTypeError(f"bad struct field in {text!r}")
            item, rest = _parse(rest[field_match.end() :])
            fields.append(pa.field(field_match.group(1), item))
            rest = rest.lstrip()
            if rest.startswith(","):
                rest = rest[1:]
                continue
            return pa.struct(fields), _expect(rest, ">")
    raise HiveTypeError(f"unknown type {name!r}")


def _expect(rest: str, token: str) -> str:
    rest = rest.lstrip()
    if not rest.startswith(token):
        raise HiveTypeError(f"expected {token!r} at {rest!r}")
    return rest[1:]


_DUCK_TYPES = {
    "string": "VARCHAR",
    "varchar": "VARCHAR",
    "char": "VARCHAR",
    "tinyint": "TINYINT",
    "smallint": "SMALLINT",
    "int": "INTEGER",
    "integer": "INTEGER",
    "bigint": "BIGINT",
    "float": "FLOAT",
    "real": "FLOAT",
    "double": "DOUBLE",
    "boolean": "BOOLEAN",
    "timestamp": "TIMESTAMP",
    "date": "DATE",
    "binary": "BLOB",
}
_DECIMAL = re.compile(r"^decimal\((\d+),\s*(\d+)\)$")
_GLOB = re.compile(r"[*?\[\]{}]")
_PLAIN_VALUE = re.compile(r"^[A-Za-z0-9_.\-]+$")  # partition values DuckDB reads back from a path unchanged


def duck_type(hive: str) -> str | None:
    """DuckDB's spelling of a primitive Hive type (None for complex types)."""
    base = hive.strip().lower()
    decimal = _DECIMAL.match(base)
    return f"DECIMAL({decimal[1]},{decimal[2]})" if decimal else _DUCK_TYPES.get(base)


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _visible(path: str, base: str) -> bool:
    relative = path[len(base) :].lstrip("/") if path.startswith(base) else path.rsplit("/", 1)[-1]
    return not any(part.startswith(("_", ".")) for part in relative.split("/"))


def _under(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder + "/")


@dataclass
class Part:
    """One unit of a table: its folder, its partition values (empty for an unpartitioned table), its files."""

    location: S3Location
    values: list[str]
    files: list[pafs.FileInfo]


@dataclass
class TableSource:
    """A catalog table's data, ready to be registered in a DuckDB connection."""

    table: dict
    parts: list[Part]
    columns: list[tuple[str, str]]  # catalog (name, Hive type)
    keys: list[tuple[str, str]]

    @property
    def files(self) -> list[pafs.FileInfo]:
        return [info for part in self.parts for info in part.files]

    @property
    def bytes(self) -> int:
        return sum(info.size for info in self.files)

    def native(self) -> bool:
        """Can DuckDB's reader see exactly this data (partition values spelled in the folder names)?"""
        if any(duck_type(kind) is None for _, kind in [*self.columns, *self.keys]):
            return False
        root = self.table["StorageDescriptor"]["Location"]
        for part in self.parts:
            folders = "".join(f"{name}={value}/" for (name, _), value in zip(self.keys, part.values, strict=True))
            if part.location.as_folder().uri != root.rstrip("/") + "/" + folders:
                return False
            if not all(_PLAIN_VALUE.match(value) for value in part.values):
                return False
        # DuckDB would read these characters in a file name as a glob pattern.
        return not any(_GLOB.search(info.path) for info in self.files)

    def register(self, con: duckdb.DuckDBPyConnection, view: str, lake: Lake, mirror: LakeMirror) -> None:
        """Create ``view`` in ``con`` with the catalog's columns (copies files to the mirror if need be)."""
        if self.native():
            self._register_native(con, view, mirror)
        else:
            self._register_arrow(con, view, lake)

    # ------------------------------------------------------------------ native route
    def _register_native(self, con: duckdb.DuckDBPyConnection, view: str, mirror: LakeMirror) -> None:
        all_columns = [*self.columns, *self.keys]
        if not self.files:
            nulls = ", ".join(f"CAST(NULL AS {duck_type(kind)}) AS {_quote(name)}" for name, kind in all_columns)
            con.execute(f"CREATE VIEW {view} AS SELECT {nulls} WHERE false")
            return
        paths = mirror.ensure(self.files)
        hive_types = ", ".join(f"{_literal(name.lower())}: 'VARCHAR'" for name, _ in self.keys)
        source = f"read_parquet([{', '.join(_literal(str(path)) for path in paths)}], union_by_name = true, " + (
            f"hive_partitioning = true, hive_types = {{{hive_types}}})" if self.keys else "hive_partitioning = false)"
        )
        found = {
            name.lower(): (name, kind.upper())
            for name, kind, *_ in con.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()
        }
        expressions = []
        for name, kind in all_columns:
            wanted = duck_type(kind)
            present = found.get(name.lower())
            if present is None:
                expressions.append(f"CAST(NULL AS {wanted}) AS {_quote(name)}")
            elif present[1] == wanted:
                expressions.append(f"{_quote(present[0])} AS {_quote(name)}")
            elif present[1] == "TIMESTAMP WITH TIME ZONE" and wanted == "TIMESTAMP":
                # Spark's UTC-adjusted timestamps: drop the zone arithmetically (a cast would consult ICU per row).
                expressions.append(f"{_naive(present[0])} AS {_quote(name)}")
            else:
                expressions.append(f"CAST({_quote(present[0])} AS {wanted}) AS {_quote(name)}")
        con.execute(f"CREATE VIEW {view} AS SELECT {', '.join(expressions)} FROM {source}")

    # ------------------------------------------------------------------ arrow route
    def _register_arrow(self, con: duckdb.DuckDBPyConnection, view: str, lake: Lake) -> None:
        columns = [(name, arrow_type(kind)) for name, kind in self.columns]
        keys = [(name, arrow_type(kind)) for name, kind in self.keys]
        file_fields, sizes, rows = _first_footer(lake, self.files)
        # Catalog names are matched to the files' own spelling (Glue lower-cases, writers may not).
        fields = [
            pa.field(file_fields[name.lower()].name if name.lower() in file_fields else name, kind)
            for name, kind in columns
        ]
        # A UTC-adjusted timestamp (Spark's) is scanned as stored: declared naive, DuckDB would push a
        # timestamp filter down into the scan as a naive scalar that pyarrow cannot compare with the file's
        # zoned column. The view below drops the zone instead, as the native route does.
        zoned = set()
        for index, (name, kind) in enumerate(columns):
            found = file_fields.get(name.lower())
            if pa.types.is_timestamp(kind) and found is not None and _zoned_timestamp(found.type):
                fields[index] = pa.field(fields[index].name, pa.timestamp(kind.unit, tz="UTC"))
                zoned.add(fields[index].name)
        fields += [pa.field(name, kind) for name, kind in keys]
        # DuckDB reads the first column for count(*): make it the cheapest one (a partition key costs no I/O).
        key_names = {name for name, _ in keys}
        cheapest = [f for f in fields if f.name in key_names] or sorted(fields, key=lambda f: sizes.get(f.name, 1e18))
        ordered = cheapest[:1] + [f for f in fields if not cheapest or f.name != cheapest[0].name]
        # Low-cardinality strings (small on disk per row) are read dictionary-encoded: much faster to group by.
        dictionary = [
            f.name for f in fields if pa.types.is_string(f.type) and sizes.get(f.name, 1e18) < 2 * max(rows, 1)
        ]
        # Spark's default INT96 timestamps are read at microseconds, the unit the catalog's timestamps map to.
        options = ds.ParquetReadOptions(dictionary_columns=dictionary, coerce_int96_timestamp_unit="us")
        parquet = ds.ParquetFileFormat(read_options=options)
        fragments = []
        for part in self.parts:
            condition = pc.scalar(True)
            for (name, kind), value in zip(keys, part.values, strict=True):
                condition = condition & (ds.field(name) == pa.scalar(value).cast(kind))
            fragments += [
                parquet.make_fragment(info.path, lake.fs, partition_expression=condition, file_size=info.size)
                for info in part.files
            ]
        con.register(f"{view}_files", ds.FileSystemDataset(fragments, pa.schema(ordered), parquet, lake.fs))
        names = [name for name, _ in [*self.columns, *self.keys]]
        projection = ", ".join(
            f"{_naive(f.name) if f.name in zoned else _quote(f.name)} AS {_quote(name)}"
            for f, name in zip(fields, names, strict=True)
        )
        con.execute(f"CREATE VIEW {view} AS SELECT {projection} FROM {view}_files")


def _zoned_timestamp(kind: pa.DataType) -> bool:
    return pa.types.is_timestamp(kind) and kind.tz is not None


def _naive(column: str) -> str:
    """A zoned timestamp column as Athena's zone-less ``timestamp`` in UTC (arithmetic: no ICU per row)."""
    return f"make_timestamp(epoch_us({_quote(column)}))"


def table_source(lake: Lake, table: dict, partitions: list[dict]) -> TableSource:
    """List what Athena would read for a catalog table (raises LocationError/HiveTypeError/OSError)."""
    descriptor = table.get("StorageDescriptor") or {}
    columns = [(c["Name"], c.get("Type", "string")) for c in descriptor.get("Columns") or []]
    keys = [(k["Name"], k.get("Type", "string")) for k in table.get("PartitionKeys") or []]
    for _, kind in [*columns, *keys]:
        arrow_type(kind)  # an unreadable type is the table's problem, reported before any S3 call
    location = lake.readable_location(descriptor.get("Location", ""))
    units = [(location, [])] if not keys else []
    for partition in partitions if keys else []:
        part_location = (partition.get("StorageDescriptor") or {}).get("Location", "")
        units.append((lake.readable_location(part_location), list(partition["Values"])))

    # One recursive listing of the table folder covers the partitions below it; others are listed alone.
    root = location.as_folder().fs_path
    listing = lake.list_files(location.as_folder()) if any(_under(u[0].fs_path, root) for u in units) else []
    parts = []
    for unit_location, values in units:
        folder = unit_location.as_folder().fs_path
        candidates = (
            [info for info in listing if _under(info.path, folder)]
            if _under(folder, root)
            else lake.list_files(unit_location.as_folder())
        )
        visible = [info for info in candidates if info.size and _visible(info.path, folder)]
        parts.append(Part(unit_location, values, visible))
    return TableSource(table, parts, columns, keys)


def _first_footer(lake: Lake, files: list[pafs.FileInfo]) -> tuple[dict[str, pa.Field], dict[str, int], int]:
    """From one file's footer: lower-case name -> the file's field, bytes per column, and row count."""
    if not files:
        return {}, {}, 0
    with lake.fs.open_input_file(files[0].path) as handle:
        meta = pq.ParquetFile(handle).metadata
    names = {field.name.lower(): field for field in meta.schema.to_arrow_schema()}
    sizes: dict[str, int] = {}
    for group in range(meta.num_row_groups):
        row_group = meta.row_group(group)
        for index in range(row_group.num_columns):
            column = row_group.column(index)
            top = column.path_in_schema.split(".")[0]
            sizes[top] = sizes.get(top, 0) + column.total_compressed_size
    return names, sizes, meta.num_rows
