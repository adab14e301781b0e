"""The crawl itself: list an S3 include path, apply the exclusions, read Parquet footers, and work out the
tables and partitions the way a Glue crawler does.

How table roots are found (Glue's documented behaviour, made deterministic):

* a folder holding data files directly is a table root (files below it belong to that table);
* a folder whose sub-folders are all Hive-style ``key=value`` with the same key becomes one table, the
  sub-folders its partitions (``key`` a partition key, type ``string``, as Glue infers it);
* a folder whose sub-folders are plain names becomes one table partitioned by ``partition_N`` only when
  there are at least two of them with the same columns (any compatible columns with the
  ``CombineCompatibleSchemas`` grouping policy), or when its only sub-folder is itself split into plain
  partitions (``2024/01/``); otherwise each sub-folder is a table of its own. So the lake's ``data/``
  folder gives one table per stream, even while only one stream has data;
* ``TableLevelConfiguration`` in the crawler's Configuration forces the table roots to that folder depth.

Tables are named after their root folder (lower-case, non-alphanumerics as ``_``), the include path's own
folder when the whole path is one table.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from smartcity.standin.lake import S3Location

log = logging.getLogger(__name__)

FOOTER_READERS = 16  # S3 latency, not CPU, bounds footer reads: read many at once


class CrawlCancelled(Exception):
    """StopCrawler was called while the crawl ran."""


def glob_to_regex(pattern: str) -> re.Pattern[str]:
    """Glue's exclude glob: ``*`` within a folder name, ``**`` across folders, ``?``, ``[..]``, ``{a,b}``."""
    out, i, depth = [], 0, 0
    while i < len(pattern):
        char = pattern[i]
        if char == "\\" and i + 1 < len(pattern):
            out.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        if pattern.startswith("**", i):
            out.append(".*")
            i += 2
            continue
        if char == "*":
            out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        elif char == "[":
            end = pattern.find("]", i + 1)
            if end == -1:
                out.append(re.escape(char))
            else:
                body = pattern[i + 1 : end]
                negate = body.startswith("!")
                body = re.escape(body[1:] if negate else body).replace("\\-", "-")
                out.append(f"[{'^' if negate else ''}{body}]")
                i = end
        elif char == "{":
            out.append("(?:")
            depth += 1
        elif char == "}" and depth:
            out.append(")")
            depth -= 1
        elif char == "," and depth:
            out.append("|")
        else:
            out.append(re.escape(char))
        i += 1
    out.append(")" * depth)
    return re.compile("".join(out))


class Exclusions:
    """A file is excluded when a pattern matches its key relative to the include path, or one of its folders."""

    def __init__(self, patterns: Iterable[str]) -> None:
        self.patterns = [glob_to_regex(pattern) for pattern in patterns]

    def excluded(self, relative_key: str) -> bool:
        if not self.patterns:
            return False
        parts = relative_key.split("/")
        candidates = [relative_key]
        for end in range(1, len(parts)):
            folder = "/".join(parts[:end])
            candidates += [folder, folder + "/"]
        return any(regex.fullmatch(candidate) for regex in self.patterns for candidate in candidates)


@dataclass
class DataFile:
    path: str  # bucket/key, pyarrow's form
    size: int
    rows: int
    schema: pa.Schema


@dataclass
class Dataset:
    """One table found by the crawl."""

    root: str  # folder path (bucket/key, no trailing slash)
    name: str
    schema: pa.Schema
    keys: list[str | None]  # partition keys; None = not Hive-style, named partition_N at the end
    partitions: dict[tuple[str, ...], list[DataFile]] = field(default_factory=dict)
    compatible_only: bool = False

    @property
    def files(self) -> list[DataFile]:
        return [file for files in self.partitions.values() for file in files]

    def key_names(self) -> list[str]:
        return [key if key is not None else f"partition_{index}" for index, key in enumerate(self.keys)]

    def partition_location(self, values: tuple[str, ...]) -> str:
        """Folder of a partition; for Hive-style levels the ``key=value`` folder, else the value folder."""
        parts = [self.root]
        for key, value in zip(self.keys, values, strict=True):
            parts.append(f"{key}={value}" if key is not None else value)
        return "/".join(parts)


@dataclass
class _Node:
    path: str
    name: str
    files: list[DataFile] = field(default_factory=list)
    children: dict[str, _Node] = field(default_factory=dict)


@dataclass
class CrawlInput:
    location: S3Location
    exclusions: Exclusions
    sample_size: int | None = None


@dataclass
class Scan:
    """What one S3 target yielded."""

    datasets: list[Dataset]
    files_seen: int
    files_excluded: int
    files_unreadable: list[str]


def read_footers(fs: pafs.S3FileSystem, infos: Sequence[pafs.FileInfo], cancel: threading.Event) -> dict:
    """Parquet footer of each file: path -> (rows, schema), or the reason it is not Parquet."""

    def read(info: pafs.FileInfo) -> tuple[str, object]:
        if cancel.is_set():
            return info.path, "cancelled"
        try:
            with fs.open_input_file(info.path) as handle:
                meta = pq.ParquetFile(handle).metadata
                return info.path, (meta.num_rows, meta.schema.to_arrow_schema())
        except (OSError, pa.ArrowException) as exc:
            return info.path, str(exc).splitlines()[0] if str(exc) else type(exc).__name__

    with ThreadPoolExecutor(FOOTER_READERS, thread_name_prefix="footer") as pool:
        results = dict(pool.map(read, infos))
    if cancel.is_set():
        raise CrawlCancelled
    return results


def scan(
    fs: pafs.S3FileSystem,
    target: CrawlInput,
    cancel: threading.Event,
    *,
    table_level: int | None = None,
    combine_compatible: bool = False,
) -> Scan:
    """Crawl one S3 target: list, exclude, read footers (in parallel), plan the tables."""
    root = target.location.as_folder()
    selector = pafs.FileSelector(root.fs_path, recursive=True, allow_not_found=True)
    infos = [info for info in fs.get_file_info(selector) if info.type == pafs.FileType.File]
    prefix = root.fs_path + "/"
    kept, excluded = [], 0
    for info in infos:
        relative = info.path[len(prefix) :] if info.path.startswith(prefix) else info.base_name
        if target.exclusions.excluded(relative):
            excluded += 1
        elif info.size:
            kept.append(info)
    kept = _sample(kept, target.sample_size)
    footers = read_footers(fs, kept, cancel)
    files, unreadable = [], []
    for info in kept:
        footer = footers[info.path]
        if isinstance(footer, tuple):
            files.append(DataFile(info.path, info.size, footer[0], footer[1]))
        else:
            unreadable.append(f"{info.path}: {footer}")
    tree = _tree(root.fs_path, files)
    root_level = len(root.fs_path.split("/"))
    datasets = _plan(tree, root_level, table_level, combine_compatible)
    return Scan(datasets, len(infos), excluded, unreadable)


def _sample(infos: list[pafs.FileInfo], sample_size: int | None) -> list[pafs.FileInfo]:
    """SampleSize: at most that many files of each leaf folder are crawled."""
    if not sample_size:
        return infos
    per_folder: dict[str, int] = {}
    kept = []
    for info in sorted(infos, key=lambda info: info.path):
        folder = info.path.rsplit("/", 1)[0]
        per_folder[folder] = per_folder.get(folder, 0) + 1
        if per_folder[folder] <= sample_size:
            kept.append(info)
    return kept


def _tree(root_path: str, files: list[DataFile]) -> _Node:
    root = _Node(root_path, root_path.rsplit("/", 1)[-1])
    for file in files:
        node = root
        relative = file.path[len(root_path) + 1 :].split("/")
        for part in relative[:-1]:
            node = node.children.setdefault(part, _Node(f"{node.path}/{part}", part))
        node.files.append(file)
    return root


def _hive_key(folder: str) -> str | None:
    key, equals, _ = folder.partition("=")
    return key if equals and key else None


def _all_files(node: _Node) -> list[DataFile]:
    found = list(node.files)
    for child in node.children.values():
        found += _all_files(child)
    return found


def _whole(node: _Node, level: int, table_level: int | None) -> Dataset:
    """The folder as one table, its sub-folders (all levels) as partitions."""
    if not node.children or node.files:
        files = _all_files(node)
        return Dataset(node.path, node.name, unify([file.schema for file in files]), [], {(): files})
    children = [_whole(child, level + 1, table_level) for child in node.children.values()]
    deepest = max(children, key=lambda child: len(child.keys))
    first_hive = next((_hive_key(name) for name in node.children if _hive_key(name)), None)
    schema = unify([child.schema for child in children])
    merged = Dataset(node.path, node.name, schema, [first_hive, *deepest.keys])
    depth = len(deepest.keys)
    for child_name, child in zip(node.children, children, strict=True):
        value = child_name.partition("=")[2] if _hive_key(child_name) else child_name
        for values, files in child.partitions.items():
            padded = values + ("",) * (depth - len(values))
            merged.partitions.setdefault((value, *padded), []).extend(files)
    return merged


def _plan(node: _Node, level: int, table_level: int | None, combine_compatible: bool) -> list[Dataset]:
    if table_level is not None:
        if level >= table_level:
            return [_whole(node, level, table_level)] if _all_files(node) else []
        # Above the table level only folders lead to tables (stray files there belong to none).
        return [d for child in node.children.values() for d in _plan(child, level + 1, table_level, False)]
    if node.files or not node.children:
        return [_whole(node, level, table_level)] if node.files else []
    plans = {name: _plan(child, level + 1, table_level, combine_compatible) for name, child in node.children.items()}
    plans = {name: plan for name, plan in plans.items() if plan}
    singles = {name: plan[0] for name, plan in plans.items() if len(plan) == 1 and plan[0].root.endswith("/" + name)}
    if plans and len(singles) == len(plans) and len({len(d.keys) for d in singles.values()}) == 1:
        hive_keys = {_hive_key(name) for name in singles}
        if len(hive_keys) == 1 and None not in hive_keys:
            return [_merge(node, singles, hive_keys.pop())]
        # Plain folders are partitions when siblings share their columns, or when the only folder is itself
        # split into plain partitions (a year/month layout); a lone dataset folder stays a table of its own.
        lone_plain = len(singles) == 1 and all(key is None for key in next(iter(singles.values())).keys)
        lone_plain = lone_plain and bool(next(iter(singles.values())).keys)
        if (
            None in hive_keys
            and (len(singles) >= 2 or lone_plain)
            and _same_columns(list(singles.values()), combine_compatible)
        ):
            return [_merge(node, singles, None)]
    return [dataset for plan in plans.values() for dataset in plan]


def _merge(node: _Node, children: dict[str, Dataset], key: str | None) -> Dataset:
    merged = Dataset(node.path, node.name, unify([d.schema for d in children.values()]), [key])
    merged.keys += next(iter(children.values())).keys
    for name, child in children.items():
        value = name.partition("=")[2] if key is not None else name
        for values, files in child.partitions.items():
            merged.partitions[(value, *values)] = files
    return merged


def _same_columns(datasets: list[Dataset], combine_compatible: bool) -> bool:
    if combine_compatible:
        try:
            pa.unify_schemas([d.schema for d in datasets], promote_options="permissive")
        except (pa.ArrowException, TypeError):
            return False
        return True
    names = {tuple(sorted(d.schema.names)) for d in datasets}
    return len(names) == 1


def unify(schemas: Sequence[pa.Schema]) -> pa.Schema:
    """One schema for many files: columns in first-seen order, types promoted; a conflict becomes string."""
    try:
        return pa.unify_schemas(list(schemas), promote_options="permissive")
    except (pa.ArrowException, TypeError):
        pass
    fields: dict[str, pa.Field] = {}
    for schema in schemas:
        for item in schema:
            seen = fields.get(item.name)
            if seen is None:
                fields[item.name] = item
            elif not seen.type.equals(item.type):
                try:
                    fields[item.name] = pa.unify_schemas(
                        [pa.schema([seen]), pa.schema([item])], promote_options="permissive"
                    ).field(0)
                except (pa.ArrowException, TypeError):
                    fields[item.name] = pa.field(item.name, pa.string())
    return pa.schema(list(fields.values()))


def hive_type(arrow_type: pa.DataType) -> str:
    """The Glue/Hive type a crawler gives an Arrow (Parquet) type."""
    t = arrow_type
    if pa.types.is_dictionary(t):
        return hive_type(t.value_type)
    simple = [
        (pa.types.is_boolean, "boolean"),
        (pa.types.is_int8, "tinyint"),
        (pa.types.is_int16, "smallint"),
        (pa.types.is_uint8, "smallint"),
        (pa.types.is_int32, "int"),
        (pa.types.is_uint16, "int"),
        (pa.types.is_int64, "bigint"),
        (pa.types.is_uint32, "bigint"),
        (pa.types.is_uint64, "bigint"),
        (pa.types.is_floating, "double"),
        (pa.types.is_timestamp, "timestamp"),
        (pa.types.is_date, "date"),
        (pa.types.is_binary, "binary"),
        (pa.types.is_large_binary, "binary"),
        (pa.types.is_fixed_size_binary, "binary"),
    ]
    if pa.types.is_float32(t) or pa.types.is_float16(t):
        return "float"
    for check, name in simple:
        if check(t):
            return name
    if pa.types.is_decimal(t):
        return f"decimal({t.precision},{t.scale})"
    if pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t):
        return f"array<{hive_type(t.value_type)}>"
    if pa.types.is_map(t):
        return f"map<{hive_type(t.key_type)},{hive_type(t.item_type)}>"
    if pa.types.is_struct(t):
        inner = ",".join(f"{t.field(i).name}:{hive_type(t.field(i).type)}" for i in range(t.num_fields))
        return f"struct<{inner}>"
    return "string"


def table_name(folder: str, prefix: str = "") -> str:
    """Glue's table naming: lower-case, characters other than letters, digits and _ become _."""
    return prefix + re.sub(r"[^a-z0-9_]", "_", folder.lower())
