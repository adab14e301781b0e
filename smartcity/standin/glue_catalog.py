"""Glue Data Catalog operations: databases, tables, partitions, tags.

Names are case-insensitive and stored lower-case, as Glue does. Table and partition locations must be
``s3://`` locations in the buckets the stand-in may read (they are what Athena queries will read).
"""

from __future__ import annotations

import copy
import re
import zlib
from typing import Any

from smartcity.standin import partition_filter
from smartcity.standin.errors import AwsError, invalid_input, not_found
from smartcity.standin.lake import Lake, LocationError
from smartcity.standin.paging import decode_token, encode_token
from smartcity.standin.service import ACCOUNT_ID, Params, Service, now, operation, page_size
from smartcity.standin.store import Store

SEP = "\x1f"  # joins partition values into one store key (it cannot appear in a value that passed validation)


def table_parent(database: str, table: str) -> str:
    return f"{database}/{table}"


def partition_key(values: list[str]) -> str:
    return SEP.join(values)


class GlueCatalog(Service):
    service_name = "glue"

    def __init__(self, store: Store, lake: Lake, region: str) -> None:
        self.store = store
        self.lake = lake
        self.region = region

    # ------------------------------------------------------------------ helpers
    def arn(self, kind: str, *names: str) -> str:
        return f"arn:aws:glue:{self.region}:{ACCOUNT_ID}:{kind}/" + "/".join(names)

    def database(self, name: str) -> dict[str, Any]:
        doc = self.store.get("database", "", name.lower())
        if doc is None:
            raise not_found(f"Database {name} not found.")
        return doc

    def table(self, database: str, name: str) -> dict[str, Any]:
        self.database(database)
        doc = self.store.get("table", database.lower(), name.lower())
        if doc is None:
            raise not_found(f"Table {name} not found.")
        return doc

    def _check_location(self, descriptor: dict[str, Any] | None) -> None:
        location = (descriptor or {}).get("Location")
        if location:
            try:
                self.lake.readable_location(location)
            except LocationError as exc:
                raise invalid_input(str(exc)) from None

    def ensure_database(self, name: str) -> None:
        """Create a database if it does not exist (crawlers do this for their target database)."""
        doc = {"Name": name.lower(), "CreateTime": now(), "CatalogId": ACCOUNT_ID, "Parameters": {}}
        doc["CreateTableDefaultPermissions"] = _default_permissions()
        self.store.insert("database", "", name.lower(), doc)

    def save_table(self, database: str, table_input: dict[str, Any], *, create: bool) -> dict[str, Any]:
        self.database(database)
        name = table_input["Name"].lower()
        self._check_location(table_input.get("StorageDescriptor"))
        existing = self.store.get("table", database.lower(), name)
        if create and existing is not None:
            raise AwsError("AlreadyExistsException", f"Table already exists: {name}")
        if not create and existing is None:
            raise not_found(f"Table {name} not found.")
        doc = copy.deepcopy(table_input)
        doc.update(Name=name, DatabaseName=database.lower(), CatalogId=ACCOUNT_ID, UpdateTime=now())
        doc.setdefault("TableType", "EXTERNAL_TABLE")
        doc.setdefault("PartitionKeys", [])
        doc.setdefault("Retention", 0)
        doc.setdefault("IsRegisteredWithLakeFormation", False)
        if existing is None:
            doc["CreateTime"] = now()
            doc["VersionId"] = "0"
        else:
            doc["CreateTime"] = existing["CreateTime"]
            doc["VersionId"] = str(int(existing.get("VersionId", "0")) + 1)
            doc.setdefault("CreatedBy", existing.get("CreatedBy"))
        self.store.put("table", database.lower(), name, {k: v for k, v in doc.items() if v is not None})
        return doc

    def save_partition(
        self, database: str, table: str, partition_input: dict[str, Any], *, create: bool, old_values=None
    ) -> None:
        table_doc = self.table(database, table)
        values = partition_input.get("Values") or []
        keys = table_doc.get("PartitionKeys") or []
        if len(values) != len(keys):
            raise invalid_input("The number of partition keys do not match the number of partition values.")
        if any(SEP in value for value in values):
            raise invalid_input("Partition values must not contain control characters.")
        self._check_location(partition_input.get("StorageDescriptor"))
        parent = table_parent(database.lower(), table.lower())
        existing = self.store.get("partition", parent, partition_key(old_values or values))
        if create and existing is not None:
            raise AwsError("AlreadyExistsException", "Partition already exists.")
        if not create and existing is None:
            raise not_found("Partition not found.")
        doc = copy.deepcopy(partition_input)
        doc.update(DatabaseName=database.lower(), TableName=table.lower(), CatalogId=ACCOUNT_ID)
        doc["CreationTime"] = existing["CreationTime"] if existing else now()
        with self.store.transaction():
            if old_values and old_values != values:
                self.store.delete("partition", parent, partition_key(old_values))
            self.store.put("partition", parent, partition_key(values), doc)

    def partitions(self, database: str, table: str) -> list[dict[str, Any]]:
        return self.store.all("partition", table_parent(database.lower(), table.lower()))

    def drop_table(self, database: str, name: str) -> None:
        self.table(database, name)
        with self.store.transaction():
            self.store.delete("table", database.lower(), name.lower())
            self.store.delete_children("partition", table_parent(database.lower(), name.lower()))

    # ---------------------------------------------------------------- databases
    @operation("CreateDatabase")
    def create_database(self, params: Params) -> dict[str, Any]:
        spec = params["DatabaseInput"]
        name = spec["Name"].lower()
        doc = {**copy.deepcopy(spec), "Name": name, "CreateTime": now(), "CatalogId": ACCOUNT_ID}
        doc.setdefault("Parameters", {})
        doc.setdefault("CreateTableDefaultPermissions", _default_permissions())
        if not self.store.insert("database", "", name, doc):
            raise AwsError("AlreadyExistsException", "Database already exists.")
        if params.get("Tags"):
            self.store.put("tags", "", self.arn("database", name), dict(params["Tags"]))
        return {}

    @operation("GetDatabase")
    def get_database(self, params: Params) -> dict[str, Any]:
        return {"Database": self.database(params["Name"])}

    @operation("GetDatabases")
    def get_databases(self, params: Params) -> dict[str, Any]:
        items, after = self.store.page(
            "database", "", after=decode_token(params.get("NextToken")), limit=page_size(params, 100, 100)
        )
        return _with_token({"DatabaseList": [doc for _, doc in items]}, after)

    @operation("UpdateDatabase")
    def update_database(self, params: Params) -> dict[str, Any]:
        existing = self.database(params["Name"])
        spec = params["DatabaseInput"]
        if spec["Name"].lower() != existing["Name"]:
            raise invalid_input("Renaming a database is not supported.")
        doc = {**copy.deepcopy(spec), "Name": existing["Name"], "CreateTime": existing["CreateTime"]}
        doc["CatalogId"] = ACCOUNT_ID
        self.store.put("database", "", existing["Name"], doc)
        return {}

    @operation("DeleteDatabase")
    def delete_database(self, params: Params) -> dict[str, Any]:
        name = self.database(params["Name"])["Name"]
        with self.store.transaction():
            for table in self.store.names("table", name):
                self.store.delete_children("partition", table_parent(name, table))
            self.store.delete_children("table", name)
            self.store.delete("database", "", name)
        return {}

    # ------------------------------------------------------------------- tables
    @staticmethod
    def _table_input(params: Params) -> dict[str, Any]:
        # Optional in the model (Iceberg tables come as OpenTableFormatInput), required for what is supported here.
        if not params.get("TableInput"):
            raise invalid_input("TableInput is required: only Hive-style tables are supported by the local stand-in.")
        return params["TableInput"]

    @operation("CreateTable")
    def create_table(self, params: Params) -> dict[str, Any]:
        self.save_table(params["DatabaseName"], self._table_input(params), create=True)
        return {}

    @operation("UpdateTable")
    def update_table(self, params: Params) -> dict[str, Any]:
        self.save_table(params["DatabaseName"], self._table_input(params), create=False)
        return {}

    @operation("GetTable")
    def get_table(self, params: Params) -> dict[str, Any]:
        return {"Table": self.table(params["DatabaseName"], params["Name"])}

    @operation("GetTables")
    def get_tables(self, params: Params) -> dict[str, Any]:
        database = self.database(params["DatabaseName"])["Name"]
        tables = self.store.all("table", database)
        pattern = params.get("Expression")
        if pattern:
            # Glue's Expression is a regular expression where '*' means any characters.
            try:
                regex = re.compile(pattern.replace("*", ".*"), re.IGNORECASE)
            except re.error as exc:
                raise invalid_input(f"Invalid Expression {pattern!r}: {exc}") from None
            tables = [doc for doc in tables if regex.fullmatch(doc["Name"])]
        return _slice(tables, params, "TableList", key=lambda doc: doc["Name"], default=100, maximum=100)

    @operation("DeleteTable")
    def delete_table(self, params: Params) -> dict[str, Any]:
        self.drop_table(params["DatabaseName"], params["Name"])
        return {}

    @operation("BatchDeleteTable")
    def batch_delete_table(self, params: Params) -> dict[str, Any]:
        self.database(params["DatabaseName"])
        errors = []
        for name in params["TablesToDelete"]:
            try:
                self.drop_table(params["DatabaseName"], name)
            except AwsError as exc:
                errors.append({"TableName": name, "ErrorDetail": _detail(exc)})
        return {"Errors": errors}

    # --------------------------------------------------------------- partitions
    @operation("CreatePartition")
    def create_partition(self, params: Params) -> dict[str, Any]:
        self.save_partition(params["DatabaseName"], params["TableName"], params["PartitionInput"], create=True)
        return {}

    @operation("BatchCreatePartition")
    def batch_create_partition(self, params: Params) -> dict[str, Any]:
        self.table(params["DatabaseName"], params["TableName"])
        errors = []
        for spec in params["PartitionInputList"]:
            try:
                self.save_partition(params["DatabaseName"], params["TableName"], spec, create=True)
            except AwsError as exc:
                errors.append({"PartitionValues": spec.get("Values", []), "ErrorDetail": _detail(exc)})
        return {"Errors": errors}

    @operation("GetPartition")
    def get_partition(self, params: Params) -> dict[str, Any]:
        self.table(params["DatabaseName"], params["TableName"])
        parent = table_parent(params["DatabaseName"].lower(), params["TableName"].lower())
        doc = self.store.get("partition", parent, partition_key(params["PartitionValues"]))
        if doc is None:
            raise not_found("Cannot find partition.")
        return {"Partition": doc}

    @operation("GetPartitions")
    def get_partitions(self, params: Params) -> dict[str, Any]:
        table = self.table(params["DatabaseName"], params["TableName"])
        partitions = self.partitions(params["DatabaseName"], params["TableName"])
        segment = params.get("Segment")
        if segment:
            total, number = segment["TotalSegments"], segment["SegmentNumber"]
            if number >= total:
                raise invalid_input("SegmentNumber must be less than TotalSegments.")
            partitions = [
                doc for doc in partitions if zlib.crc32(partition_key(doc["Values"]).encode()) % total == number
            ]
        if params.get("Expression"):
            keys = [(key["Name"], key.get("Type", "string")) for key in table.get("PartitionKeys") or []]
            keep = partition_filter.matching(params["Expression"], keys, [doc["Values"] for doc in partitions])
            partitions = [partitions[index] for index in keep]
        if params.get("ExcludeColumnSchema"):
            for doc in partitions:
                doc.get("StorageDescriptor", {}).pop("Columns", None)
        return _slice(
            partitions, params, "Partitions", key=lambda doc: partition_key(doc["Values"]), default=1000, maximum=1000
        )

    @operation("BatchGetPartition")
    def batch_get_partition(self, params: Params) -> dict[str, Any]:
        self.table(params["DatabaseName"], params["TableName"])
        parent = table_parent(params["DatabaseName"].lower(), params["TableName"].lower())
        found, missing = [], []
        for wanted in params["PartitionsToGet"]:
            doc = self.store.get("partition", parent, partition_key(wanted.get("Values", [])))
            if doc is None:
                missing.append(wanted)
            else:
                found.append(doc)
        # Glue lists partitions that do not exist neither as found nor as unprocessed.
        return {"Partitions": found, "UnprocessedKeys": []}

    @operation("UpdatePartition")
    def update_partition(self, params: Params) -> dict[str, Any]:
        self.save_partition(
            params["DatabaseName"],
            params["TableName"],
            params["PartitionInput"],
            create=False,
            old_values=params["PartitionValueList"],
        )
        return {}

    @operation("BatchUpdatePartition")
    def batch_update_partition(self, params: Params) -> dict[str, Any]:
        self.table(params["DatabaseName"], params["TableName"])
        errors = []
        for entry in params["Entries"]:
            try:
                self.save_partition(
                    params["DatabaseName"],
                    params["TableName"],
                    entry["PartitionInput"],
                    create=False,
                    old_values=entry["PartitionValueList"],
                )
            except AwsError as exc:
                errors.append({"PartitionValueList": entry["PartitionValueList"], "ErrorDetail": _detail(exc)})
        return {"Errors": errors}

    @operation("DeletePartition")
    def delete_partition(self, params: Params) -> dict[str, Any]:
        self.table(params["DatabaseName"], params["TableName"])
        parent = table_parent(params["DatabaseName"].lower(), params["TableName"].lower())
        if not self.store.delete("partition", parent, partition_key(params["PartitionValues"])):
            raise not_found("Cannot find partition.")
        return {}

    @operation("BatchDeletePartition")
    def batch_delete_partition(self, params: Params) -> dict[str, Any]:
        self.table(params["DatabaseName"], params["TableName"])
        parent = table_parent(params["DatabaseName"].lower(), params["TableName"].lower())
        errors = []
        for wanted in params["PartitionsToDelete"]:
            values = wanted.get("Values", [])
            if not self.store.delete("partition", parent, partition_key(values)):
                detail = {"ErrorCode": "EntityNotFoundException", "ErrorMessage": "Cannot find partition."}
                errors.append({"PartitionValues": values, "ErrorDetail": detail})
        return {"Errors": errors}

    # --------------------------------------------------------------------- tags
    def _tagged(self, arn: str) -> str:
        """Check that a taggable resource (database, table, crawler) exists; return its store key."""
        prefix = f"arn:aws:glue:{self.region}:{ACCOUNT_ID}:"
        kind, _, path = arn.removeprefix(prefix).partition("/") if arn.startswith(prefix) else ("", "", "")
        names = path.split("/")
        exists = (
            (kind == "database" and len(names) == 1 and self.store.get("database", "", names[0]) is not None)
            or (kind == "table" and len(names) == 2 and self.store.get("table", names[0], names[1]) is not None)
            or (kind == "crawler" and len(names) == 1 and self.store.get("crawler", "", names[0]) is not None)
        )
        if not exists:
            raise not_found(f"Resource {arn} not found.")
        return arn

    @operation("GetTags")
    def get_tags(self, params: Params) -> dict[str, Any]:
        arn = self._tagged(params["ResourceArn"])
        return {"Tags": self.store.get("tags", "", arn) or {}}

    @operation("TagResource")
    def tag_resource(self, params: Params) -> dict[str, Any]:
        arn = self._tagged(params["ResourceArn"])
        with self.store.transaction():
            tags = self.store.get("tags", "", arn) or {}
            tags.update(params["TagsToAdd"])
            if len(tags) > 50:
                raise invalid_input("A resource can have at most 50 tags.")
            self.store.put("tags", "", arn, tags)
        return {}

    @operation("UntagResource")
    def untag_resource(self, params: Params) -> dict[str, Any]:
        arn = self._tagged(params["ResourceArn"])
        with self.store.transaction():
            tags = self.store.get("tags", "", arn) or {}
            for key in params["TagsToRemove"]:
                tags.pop(key, None)
            self.store.put("tags", "", arn, tags)
        return {}


def _default_permissions() -> list[dict[str, Any]]:
    return [{"Principal": {"DataLakePrincipalIdentifier": "IAM_ALLOWED_PRINCIPALS"}, "Permissions": ["ALL"]}]


def _detail(exc: AwsError) -> dict[str, str]:
    return {"ErrorCode": exc.code, "ErrorMessage": exc.message}


def _with_token(response: dict[str, Any], after: Any) -> dict[str, Any]:
    if after is not None:
        response["NextToken"] = encode_token(after)
    return response


def _slice(items: list[dict[str, Any]], params: Params, field: str, *, key, default: int, maximum: int) -> dict:
    """Page a sorted in-memory list by the key of the last item returned."""
    items = sorted(items, key=key)
    after = decode_token(params.get("NextToken"))
    if after is not None:
        items = [item for item in items if key(item) > after]
    size = page_size(params, default, maximum)
    response: dict[str, Any] = {field: items[:size]}
    if len(items) > size:
        response["NextToken"] = encode_token(key(items[size - 1]))
    return response
