"""Applying a crawl to the catalog: scan each S3 target (:mod:`crawler`), then create or update tables and
partitions as a Glue crawler does, following the crawler's SchemaChangePolicy and RecrawlPolicy.

Everything a crawl changes is written in one store transaction at its end: a crawl that fails or is
stopped leaves the catalog as it was.
"""

from __future__ import annotations

import copy
import json
import logging
import threading
import uuid
from typing import Any

from smartcity.standin import crawler as engine
from smartcity.standin.errors import AwsError, invalid_input
from smartcity.standin.glue_catalog import GlueCatalog, partition_key, table_parent
from smartcity.standin.lake import LocationError, S3Location
from smartcity.standin.service import ACCOUNT_ID, now

log = logging.getLogger(__name__)

PARQUET_SERDE = {
    "InputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
    "OutputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat",
    "SerdeInfo": {
        "SerializationLibrary": "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe",
        "Parameters": {"serialization.format": "1"},
    },
}


class CatalogCrawl:
    """One crawl of one crawler's targets into its database."""

    def __init__(self, catalog: GlueCatalog) -> None:
        self.catalog = catalog

    def run(self, doc: dict[str, Any], cancel: threading.Event) -> dict[str, int]:
        config = crawler_configuration(doc)
        grouping = config.get("Grouping", {})
        table_level = grouping.get("TableLevelConfiguration")
        combine = grouping.get("TableGroupingPolicy") == "CombineCompatibleSchemas"
        new_only = (doc.get("RecrawlPolicy") or {}).get("RecrawlBehavior") == "CRAWL_NEW_FOLDERS_ONLY"
        database = doc["DatabaseName"].lower()
        policy = doc["SchemaChangePolicy"]
        lake = self.catalog.lake

        found: list[tuple[S3Location, engine.Dataset]] = []
        for target in doc["Targets"]["S3Targets"]:
            try:
                location = lake.readable_location(target["Path"])
            except LocationError as exc:
                raise invalid_input(str(exc)) from None
            crawl_input = engine.CrawlInput(
                location, engine.Exclusions(target.get("Exclusions") or []), target.get("SampleSize")
            )
            try:
                scan = engine.scan(lake.fs, crawl_input, cancel, table_level=table_level, combine_compatible=combine)
            except OSError as exc:
                raise AwsError("CrawlFailed", f"Cannot read {location.uri}: {exc}") from None
            log.info(
                "crawler %s: %s: %d objects, %d excluded, %d not Parquet, %d tables",
                doc["Name"],
                location.uri,
                scan.files_seen,
                scan.files_excluded,
                len(scan.files_unreadable),
                len(scan.datasets),
            )
            for problem in scan.files_unreadable[:20]:
                log.warning("crawler %s: skipped (not a Parquet file): %s", doc["Name"], problem)
            found += [(location, dataset) for dataset in scan.datasets]
        if cancel.is_set():
            raise engine.CrawlCancelled

        counts = {"created": 0, "updated": 0, "deleted": 0}
        seen_tables: set[str] = set()
        with self.catalog.store.transaction():
            self.catalog.ensure_database(database)
            names = _table_names(found, doc.get("TablePrefix", ""))
            for (_, dataset), name in zip(found, names, strict=True):
                name = self._free_name(database, name, dataset)
                seen_tables.add(name)
                outcome = self._apply(doc, database, name, dataset, policy, new_only)
                if outcome:
                    counts[outcome] += 1
            counts["deleted"] = self._handle_deleted(doc, database, seen_tables, policy)
        return counts

    def _free_name(self, database: str, name: str, dataset: engine.Dataset) -> str:
        """Glue gives a table whose name is taken by a table elsewhere a hash suffix."""
        existing = self.catalog.store.get("table", database, name)
        if existing is None or _location(existing) == f"s3://{dataset.root}/":
            return name
        return f"{name}_{uuid.uuid5(uuid.NAMESPACE_URL, dataset.root).hex[:8]}"

    def _apply(
        self, doc: dict[str, Any], database: str, name: str, dataset: engine.Dataset, policy: dict, new_only: bool
    ) -> str | None:
        keys = dataset.key_names()
        columns = [
            {"Name": field.name, "Type": engine.hive_type(field.type)}
            for field in dataset.schema
            if field.name.lower() not in {key.lower() for key in keys}
        ]
        files = dataset.files
        rows = sum(file.rows for file in files)
        size = sum(file.size for file in files)
        parameters = {
            "classification": "parquet",
            "compressionType": "none",
            "typeOfData": "file",
            "CrawlerSchemaDeserializerVersion": "1.0",
            "CrawlerSchemaSerializerVersion": "1.0",
            "UPDATED_BY_CRAWLER": doc["Name"],
            "averageRecordSize": str(size // rows if rows else 0),
            "objectCount": str(len(files)),
            "recordCount": str(rows),
            "sizeKey": str(size),
        }
        descriptor = {
            "Columns": columns,
            "Location": f"s3://{dataset.root}/",
            **copy.deepcopy(PARQUET_SERDE),
            "Compressed": False,
            "NumberOfBuckets": -1,
            "BucketColumns": [],
            "SortColumns": [],
            "Parameters": dict(parameters),
            "StoredAsSubDirectories": False,
        }
        table_input = {
            "Name": name,
            "Owner": "owner",
            "Retention": 0,
            "StorageDescriptor": descriptor,
            "PartitionKeys": [{"Name": key, "Type": "string"} for key in keys],
            "TableType": "EXTERNAL_TABLE",
            "Parameters": parameters,
            "CreatedBy": f"arn:aws:sts::{ACCOUNT_ID}:assumed-role/{doc['Role'].rsplit('/', 1)[-1]}/AWS-Crawler",
        }
        existing = self.catalog.store.get("table", database, name)
        outcome: str | None = None
        if existing is None:
            self.catalog.save_table(database, table_input, create=True)
            outcome = "created"
        else:
            changed = (
                existing.get("StorageDescriptor", {}).get("Columns") != columns
                or existing.get("PartitionKeys") != table_input["PartitionKeys"]
            )
            if changed and policy.get("UpdateBehavior") == "UPDATE_IN_DATABASE" and not new_only:
                self.catalog.save_table(database, table_input, create=False)
                outcome = "updated"
            elif changed:
                log.info(
                    "crawler %s: schema change of %s.%s only logged (UpdateBehavior LOG)", doc["Name"], database, name
                )
            if existing.get("PartitionKeys") != table_input["PartitionKeys"] and outcome != "updated":
                return outcome  # the partitions found do not fit the table as it stays
        self._apply_partitions(doc, database, name, dataset, descriptor, policy, new_only, outcome == "updated")
        return outcome

    def _apply_partitions(
        self, doc, database: str, name: str, dataset: engine.Dataset, descriptor, policy, new_only, schema_changed
    ) -> None:
        if not dataset.keys:
            return
        parent = table_parent(database, name)
        existing = {partition_key(part["Values"]) for part in self.catalog.partitions(database, name)}
        found = set()
        for values in dataset.partitions:
            key = partition_key(list(values))
            found.add(key)
            if key in existing and not schema_changed:
                continue
            partition_descriptor = {
                **copy.deepcopy(descriptor),
                "Location": f"s3://{dataset.partition_location(values)}/",
            }
            part = {
                "Values": list(values),
                "DatabaseName": database,
                "TableName": name,
                "CatalogId": ACCOUNT_ID,
                "CreationTime": now(),
                "StorageDescriptor": partition_descriptor,
                "Parameters": {},
            }
            if key in existing:
                old = self.catalog.store.get("partition", parent, key) or {}
                part["CreationTime"] = old.get("CreationTime", part["CreationTime"])
            self.catalog.store.put("partition", parent, key, part)
        gone = existing - found
        if gone and policy.get("DeleteBehavior") == "DELETE_FROM_DATABASE" and not new_only:
            for key in gone:
                self.catalog.store.delete("partition", parent, key)
        elif gone:
            log.info(
                "crawler %s: %d partitions of %s.%s have no data any more (kept)",
                doc["Name"],
                len(gone),
                database,
                name,
            )

    def _handle_deleted(self, doc: dict[str, Any], database: str, seen: set[str], policy: dict) -> int:
        """Tables this crawler made whose data is gone: deleted, deprecated or logged per DeleteBehavior."""
        roots = [S3Location(*parse).uri for parse in _target_roots(doc)]
        deleted = 0
        for table in self.catalog.store.all("table", database):
            if table["Name"] in seen or table.get("Parameters", {}).get("UPDATED_BY_CRAWLER") != doc["Name"]:
                continue
            if not any(_location(table).startswith(root) for root in roots):
                continue
            behaviour = policy.get("DeleteBehavior", "DEPRECATE_IN_DATABASE")
            if behaviour == "DELETE_FROM_DATABASE":
                self.catalog.drop_table(database, table["Name"])
                deleted += 1
            elif behaviour == "DEPRECATE_IN_DATABASE":
                table.setdefault("Parameters", {})["DEPRECATED_BY_CRAWLER"] = "1"
                self.catalog.store.put("table", database, table["Name"], table)
            else:
                log.info(
                    "crawler %s: table %s.%s has no data any more (logged only)", doc["Name"], database, table["Name"]
                )
        return deleted


def _target_roots(doc: dict[str, Any]) -> list[tuple[str, str]]:
    roots = []
    for target in doc["Targets"]["S3Targets"]:
        bucket, _, key = target["Path"].removeprefix("s3://").partition("/")
        roots.append((bucket, key))
    return roots


def _location(table: dict[str, Any]) -> str:
    return table.get("StorageDescriptor", {}).get("Location", "")


def _table_names(found: list[tuple[S3Location, engine.Dataset]], prefix: str) -> list[str]:
    """Names for the tables of one crawl; two roots with the same folder name get hash suffixes."""
    names = [engine.table_name(dataset.name, prefix) for _, dataset in found]
    for index, name in enumerate(names):
        if names.count(name) > 1:
            names[index] = f"{name}_{uuid.uuid5(uuid.NAMESPACE_URL, found[index][1].root).hex[:8]}"
    return names


def crawler_configuration(doc: dict[str, Any]) -> dict[str, Any]:
    raw = doc.get("Configuration")
    if not raw:
        return {}
    try:
        config = json.loads(raw)
    except ValueError as exc:
        raise invalid_input(f"Crawler configuration is not valid JSON: {exc}") from None
    if not isinstance(config, dict):
        raise invalid_input("Crawler configuration must be a JSON object.")
    grouping = config.get("Grouping", {})
    if not isinstance(grouping, dict):
        raise invalid_input("Crawler configuration: Grouping must be an object.")
    level = grouping.get("TableLevelConfiguration")
    if level is not None and (isinstance(level, bool) or not isinstance(level, int) or level < 1):
        raise invalid_input("Crawler configuration: TableLevelConfiguration must be a positive integer.")
    return config
