"""Athena operations: work groups, query executions (run for real by :mod:`query_engine`), results, and the
catalog metadata calls pyathena and the Airflow provider use.

A query goes ``QUEUED`` -> ``RUNNING`` -> ``SUCCEEDED`` / ``FAILED`` / ``CANCELLED`` on a small worker pool;
its record (with the reason of a failure) is kept in the store, so history survives a restart. Query
results are written to ``<OutputLocation>/<QueryExecutionId>.csv`` as Athena does.
"""

from __future__ import annotations

import fnmatch
import logging
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from smartcity.standin.errors import AwsError, invalid_request
from smartcity.standin.glue_catalog import GlueCatalog
from smartcity.standin.lake import LocationError
from smartcity.standin.paging import decode_token, encode_token
from smartcity.standin.query_engine import (
    Execution,
    QueryCancelled,
    QueryEngine,
    QueryFailed,
    ScanLimitExceeded,
    parse,
    read_page,
    result_rows,
    statement_kind,
)
from smartcity.standin.service import ACCOUNT_ID, Params, Service, now, operation, page_size

log = logging.getLogger(__name__)

PRIMARY = "primary"
ENGINE_VERSION = {"SelectedEngineVersion": "AUTO", "EffectiveEngineVersion": "Athena engine version 3"}
FINAL_STATES = ("SUCCEEDED", "FAILED", "CANCELLED")
MIN_SCAN_CUTOFF = 10_000_000  # Athena's smallest per-query data usage limit (10 MB)
SCAN_LIMIT_REASON = "Query cancelled! : Bytes scanned limit was exceeded"


def _tag_map(tags: Any) -> dict[str, str]:
    if not isinstance(tags, list) or not all(isinstance(t, dict) and isinstance(t.get("Key"), str) for t in tags):
        raise invalid_request("Tags must be a list of {Key, Value} with a Key.")
    return {tag["Key"]: str(tag.get("Value", "")) for tag in tags}


def _check_cutoff(config: dict[str, Any]) -> None:
    cutoff = config.get("BytesScannedCutoffPerQuery")
    if cutoff is not None and (not isinstance(cutoff, int) or cutoff < MIN_SCAN_CUTOFF):
        raise invalid_request(f"BytesScannedCutoffPerQuery must be at least {MIN_SCAN_CUTOFF} bytes.")


def _metadata_error(message: str) -> AwsError:
    return AwsError("MetadataException", message)


class Athena(Service):
    service_name = "athena"

    def __init__(self, catalog: GlueCatalog, engine: QueryEngine, default_output: str, workers: int = 2) -> None:
        self.catalog = catalog
        self.store = catalog.store
        self.engine = engine
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="query")
        self._running: dict[str, Execution] = {}
        self._lock = threading.Lock()
        self._ensure_primary(default_output)
        self._recover()

    def _ensure_primary(self, output: str) -> None:
        doc = {
            "Name": PRIMARY,
            "State": "ENABLED",
            "Description": "",
            "CreationTime": now(),
            "Configuration": {
                "ResultConfiguration": {"OutputLocation": output},
                "EnforceWorkGroupConfiguration": False,
                "PublishCloudWatchMetricsEnabled": False,
                "RequesterPaysEnabled": False,
                "EngineVersion": ENGINE_VERSION,
            },
        }
        self.store.insert("workgroup", "", PRIMARY, doc)

    def _recover(self) -> None:
        for _, _query_id, doc in self.store.all_kinds("query"):
            if doc["Status"]["State"] not in FINAL_STATES:
                self._finish(
                    doc, "FAILED", reason="Query interrupted: the stand-in stopped while it ran.", error=(1, 100)
                )

    def shutdown(self) -> None:
        for execution in list(self._running.values()):
            execution.cancel()
        self._pool.shutdown(wait=True, cancel_futures=True)

    # ---------------------------------------------------------------- work groups
    def _workgroup(self, name: str) -> dict[str, Any]:
        doc = self.store.get("workgroup", "", name)
        if doc is None:
            raise invalid_request(f"WorkGroup {name} is not found.")
        return doc

    def _check_output(self, location: str | None) -> None:
        if location:
            try:
                self.catalog.lake.writable_location(location)
            except LocationError as exc:
                raise invalid_request(f"Invalid OutputLocation: {exc}") from None

    @operation("CreateWorkGroup")
    def create_work_group(self, params: Params) -> dict[str, Any]:
        config = params.get("Configuration") or {}
        self._check_output((config.get("ResultConfiguration") or {}).get("OutputLocation"))
        doc = {
            "Name": params["Name"],
            "State": "ENABLED",
            "Description": params.get("Description", ""),
            "CreationTime": now(),
            "Configuration": {
                "EnforceWorkGroupConfiguration": True,
                "PublishCloudWatchMetricsEnabled": True,
                "RequesterPaysEnabled": False,
                "EngineVersion": ENGINE_VERSION,
                **config,
            },
        }
        _check_cutoff(config)
        with self.store.transaction():
            if not self.store.insert("workgroup", "", params["Name"], doc):
                raise invalid_request("WorkGroup is already created")
            if params.get("Tags"):
                self.store.put("tags", "", self.workgroup_arn(params["Name"]), _tag_map(params["Tags"]))
        return {}

    def workgroup_arn(self, name: str) -> str:
        return f"arn:aws:athena:{self.catalog.region}:{ACCOUNT_ID}:workgroup/{name}"

    def _tagged(self, arn: str) -> str:
        """The work group ARN, checked as Athena checks it (only work groups are taggable here)."""
        prefix = f"arn:aws:athena:{self.catalog.region}:{ACCOUNT_ID}:workgroup/"
        if not arn.startswith("arn:aws:athena:"):
            raise invalid_request(f"Invalid ResourceARN: {arn}")
        if not arn.startswith(prefix) or self.store.get("workgroup", "", arn[len(prefix) :]) is None:
            raise AwsError("ResourceNotFoundException", f"Resource {arn} does not exist.")
        return arn

    @operation("TagResource")
    def tag_resource(self, params: Params) -> dict[str, Any]:
        arn = self._tagged(params["ResourceARN"])
        with self.store.transaction():
            tags = {**(self.store.get("tags", "", arn) or {}), **_tag_map(params["Tags"])}
            if len(tags) > 50:
                raise invalid_request("A resource can have at most 50 tags.")
            self.store.put("tags", "", arn, tags)
        return {}

    @operation("UntagResource")
    def untag_resource(self, params: Params) -> dict[str, Any]:
        arn = self._tagged(params["ResourceARN"])
        with self.store.transaction():
            tags = self.store.get("tags", "", arn) or {}
            keys = params["TagKeys"]
            if not isinstance(keys, list) or not all(isinstance(key, str) for key in keys):
                raise invalid_request("TagKeys must be a list of strings.")
            for key in keys:
                tags.pop(key, None)
            self.store.put("tags", "", arn, tags)
        return {}

    @operation("ListTagsForResource")
    def list_tags_for_resource(self, params: Params) -> dict[str, Any]:
        arn = self._tagged(params["ResourceARN"])
        tags = sorted((self.store.get("tags", "", arn) or {}).items())
        start = max(0, decode_token(params.get("NextToken"), kind=int, error_code="InvalidRequestException") or 0)
        limit = page_size(params, 75, 75)
        response: dict[str, Any] = {"Tags": [{"Key": k, "Value": v} for k, v in tags[start : start + limit]]}
        if start + limit < len(tags):
            response["NextToken"] = encode_token(start + limit)
        return response

    @operation("GetWorkGroup")
    def get_work_group(self, params: Params) -> dict[str, Any]:
        return {"WorkGroup": self._workgroup(params["WorkGroup"])}

    @operation("ListWorkGroups")
    def list_work_groups(self, params: Params) -> dict[str, Any]:
        items, after = self.store.page(
            "workgroup",
            "",
            after=decode_token(params.get("NextToken"), error_code="InvalidRequestException"),
            limit=page_size(params, 50, 50),
        )
        summaries = [
            {k: doc.get(k) for k in ("Name", "State", "Description", "CreationTime")}
            | {"EngineVersion": ENGINE_VERSION}
            for _, doc in items
        ]
        response: dict[str, Any] = {"WorkGroups": summaries}
        if after is not None:
            response["NextToken"] = encode_token(after)
        return response

    @operation("UpdateWorkGroup")
    def update_work_group(self, params: Params) -> dict[str, Any]:
        doc = self._workgroup(params["WorkGroup"])
        updates = params.get("ConfigurationUpdates") or {}
        config = doc["Configuration"]
        result_updates = updates.get("ResultConfigurationUpdates") or {}
        if result_updates.get("RemoveOutputLocation"):
            config.get("ResultConfiguration", {}).pop("OutputLocation", None)
        if result_updates.get("OutputLocation"):
            self._check_output(result_updates["OutputLocation"])
            config.setdefault("ResultConfiguration", {})["OutputLocation"] = result_updates["OutputLocation"]
        for key in ("EnforceWorkGroupConfiguration", "PublishCloudWatchMetricsEnabled", "RequesterPaysEnabled"):
            if key in updates:
                config[key] = updates[key]
        if updates.get("RemoveBytesScannedCutoffPerQuery"):
            config.pop("BytesScannedCutoffPerQuery", None)
        if "BytesScannedCutoffPerQuery" in updates:
            _check_cutoff(updates)
            config["BytesScannedCutoffPerQuery"] = updates["BytesScannedCutoffPerQuery"]
        if "State" in params and params["State"] not in ("ENABLED", "DISABLED"):
            raise invalid_request(f"Invalid State: {params['State']}")
        if "Description" in params:
            doc["Description"] = params["Description"]
        if "State" in params:
            doc["State"] = params["State"]
        self.store.put("workgroup", "", doc["Name"], doc)
        return {}

    @operation("DeleteWorkGroup")
    def delete_work_group(self, params: Params) -> dict[str, Any]:
        doc = self._workgroup(params["WorkGroup"])
        if doc["Name"] == PRIMARY:
            raise invalid_request("The primary workgroup cannot be deleted.")
        if self.store.names("wgquery", doc["Name"]) and not params.get("RecursiveDeleteOption"):
            raise invalid_request("WorkGroup is not empty: use RecursiveDeleteOption to delete it with its queries.")
        with self.store.transaction():
            self.store.delete("workgroup", "", doc["Name"])
            self.store.delete("tags", "", self.workgroup_arn(doc["Name"]))
        return {}

    # ---------------------------------------------------------------- queries
    def _query(self, query_id: str) -> dict[str, Any]:
        doc = self.store.get("query", "", query_id) if isinstance(query_id, str) else None
        if doc is None:
            raise invalid_request(f"QueryExecution {query_id} was not found")
        return doc

    @staticmethod
    def _public(doc: dict[str, Any]) -> dict[str, Any]:
        return {key: value for key, value in doc.items() if not key.startswith("_")}

    @operation("StartQueryExecution")
    def start_query_execution(self, params: Params) -> dict[str, Any]:
        token = params.get("ClientRequestToken")
        if token:
            previous = self.store.get("token", "", token)
            if previous:
                return {"QueryExecutionId": previous["QueryExecutionId"]}
        workgroup = self._workgroup(params.get("WorkGroup") or PRIMARY)
        if workgroup["State"] != "ENABLED":
            raise invalid_request(f"WorkGroup {workgroup['Name']} is disabled.")
        config = workgroup["Configuration"]
        requested = (params.get("ResultConfiguration") or {}).get("OutputLocation")
        configured = (config.get("ResultConfiguration") or {}).get("OutputLocation")
        output = configured if config.get("EnforceWorkGroupConfiguration") or not requested else requested
        if not output:
            raise invalid_request(
                "No output location provided. An output location is required either through the Workgroup result "
                "configuration setting or as an API input."
            )
        self._check_output(output)
        context = params.get("QueryExecutionContext") or {}
        query_id = str(uuid.uuid4())
        submitted = now()
        doc = {
            "QueryExecutionId": query_id,
            "Query": params["QueryString"],
            "StatementType": "DML",
            "ResultConfiguration": {"OutputLocation": output.rstrip("/") + f"/{query_id}.csv"},
            "ResultReuseConfiguration": {"ResultReuseByAgeConfiguration": {"Enabled": False}},
            "QueryExecutionContext": context,
            "Status": {"State": "QUEUED", "SubmissionDateTime": submitted},
            "Statistics": {"EngineExecutionTimeInMillis": 0, "DataScannedInBytes": 0, "TotalExecutionTimeInMillis": 0},
            "WorkGroup": workgroup["Name"],
            "EngineVersion": ENGINE_VERSION,
            "SubstatementType": "SELECT",
            "_Parameters": params.get("ExecutionParameters") or [],
        }
        with self.store.transaction():
            self.store.put("query", "", query_id, doc)
            self.store.put("wgquery", workgroup["Name"], query_id, {})
            if token:
                self.store.put("token", "", token, {"QueryExecutionId": query_id})
        execution = Execution()
        with self._lock:
            self._running[query_id] = execution
        self._pool.submit(self._execute, query_id, execution)
        return {"QueryExecutionId": query_id}

    def _execute(self, query_id: str, execution: Execution) -> None:
        doc = self._query(query_id)
        if execution.cancelled.is_set():
            self._finish(doc, "CANCELLED")
            return
        doc["Status"]["State"] = "RUNNING"
        self.store.put("query", "", query_id, doc)
        started = time.time()
        database = (doc["QueryExecutionContext"].get("Database") or "default").lower()
        try:
            tree = parse(doc["Query"], doc["_Parameters"])
            doc["StatementType"], doc["SubstatementType"] = statement_kind(tree)
            output = self.catalog.lake.writable_location(doc["ResultConfiguration"]["OutputLocation"])
            catalog = (doc["QueryExecutionContext"].get("Catalog") or "AwsDataCatalog").lower()
            if catalog != "awsdatacatalog":
                raise QueryFailed("CATALOG_NOT_FOUND", f"Catalog '{catalog}' does not exist")
            workgroup = self.store.get("workgroup", "", doc["WorkGroup"]) or {}
            cutoff = (workgroup.get("Configuration") or {}).get("BytesScannedCutoffPerQuery")
            outcome = self.engine.run(query_id, tree, database, output, execution, scan_limit=cutoff)
        except ScanLimitExceeded as exc:
            doc["Statistics"]["DataScannedInBytes"] = exc.scanned
            self._finish(doc, "CANCELLED", reason=SCAN_LIMIT_REASON, error=(2, 1000))
        except QueryCancelled:
            self._finish(doc, "CANCELLED")
        except QueryFailed as exc:
            self._finish(doc, "FAILED", reason=exc.reason, error=(exc.category, exc.error_type))
        except Exception as exc:  # a broken query must end FAILED with its reason, never stay RUNNING
            log.exception("query %s failed unexpectedly", query_id)
            self._finish(doc, "FAILED", reason=f"GENERIC_INTERNAL_ERROR: {exc}", error=(1, 200))
        else:
            doc["Statistics"].update(
                DataScannedInBytes=outcome.scanned_bytes,
                EngineExecutionTimeInMillis=outcome.engine_ms,
                QueryPlanningTimeInMillis=outcome.planning_ms,
                QueryQueueTimeInMillis=int((started - doc["Status"]["SubmissionDateTime"]) * 1000),
                ServiceProcessingTimeInMillis=0,
                ResultReuseInformation={"ReusedPreviousResult": False},
            )
            doc["_Columns"] = outcome.columns
            doc["_Rows"] = outcome.rows
            self._finish(doc, "SUCCEEDED")
        finally:
            with self._lock:
                self._running.pop(query_id, None)

    def _finish(self, doc: dict[str, Any], state: str, *, reason: str | None = None, error=None) -> None:
        done = now()
        status = doc["Status"]
        status.update(State=state, CompletionDateTime=done)
        doc["Statistics"]["TotalExecutionTimeInMillis"] = int((done - status["SubmissionDateTime"]) * 1000)
        if reason:
            status["StateChangeReason"] = reason
            category, error_type = error or (2, 1000)
            status["AthenaError"] = {
                "ErrorCategory": category,
                "ErrorType": error_type,
                "Retryable": False,
                "ErrorMessage": reason,
            }
        elif state == "CANCELLED":
            status["StateChangeReason"] = "Query was cancelled by user"
        self.store.put("query", "", doc["QueryExecutionId"], doc)
        log.info("query %s %s%s", doc["QueryExecutionId"], state, f": {reason}" if reason else "")

    @operation("GetQueryExecution")
    def get_query_execution(self, params: Params) -> dict[str, Any]:
        return {"QueryExecution": self._public(self._query(params["QueryExecutionId"]))}

    @operation("BatchGetQueryExecution")
    def batch_get_query_execution(self, params: Params) -> dict[str, Any]:
        found, missing = [], []
        for query_id in params["QueryExecutionIds"]:
            doc = self.store.get("query", "", query_id)
            if doc is None:
                missing.append(
                    {"QueryExecutionId": query_id, "ErrorCode": "INVALID_INPUT", "ErrorMessage": "not found"}
                )
            else:
                found.append(self._public(doc))
        return {"QueryExecutions": found, "UnprocessedQueryExecutionIds": missing}

    @operation("StopQueryExecution")
    def stop_query_execution(self, params: Params) -> dict[str, Any]:
        doc = self._query(params["QueryExecutionId"])
        with self._lock:
            execution = self._running.get(doc["QueryExecutionId"])
        if execution is not None and doc["Status"]["State"] not in FINAL_STATES:
            execution.cancel()
        return {}

    @operation("ListQueryExecutions")
    def list_query_executions(self, params: Params) -> dict[str, Any]:
        workgroup = self._workgroup(params.get("WorkGroup") or PRIMARY)["Name"]
        offset = decode_token(params.get("NextToken"), int, "InvalidRequestException") or 0
        if offset < 0:
            raise invalid_request("Invalid pagination token (NextToken)")
        size = page_size(params, 50, 50)
        ids, more = self.store.newest_first("wgquery", workgroup, offset=offset, limit=size)
        response: dict[str, Any] = {"QueryExecutionIds": ids}
        if more:
            response["NextToken"] = encode_token(offset + size)
        return response

    @operation("GetQueryResults")
    def get_query_results(self, params: Params) -> dict[str, Any]:
        doc = self._query(params["QueryExecutionId"])
        state = doc["Status"]["State"]
        if state == "FAILED":
            raise invalid_request(doc["Status"].get("StateChangeReason", "Query failed"))
        if state != "SUCCEEDED":
            raise invalid_request(f"Query has not yet finished. Current state: {state}")
        path = self.engine.result_path(doc["QueryExecutionId"])
        if not path.exists():
            raise invalid_request("The query results are no longer available.")
        columns = doc.get("_Columns", [])
        size = page_size(params, 1000, 1000)
        offset = decode_token(params.get("NextToken"), int, "InvalidRequestException")
        rows: list[dict[str, Any]] = []
        if offset is None:  # the first page starts with the header row, as Athena's does
            rows.append({"Data": [{"VarCharValue": column["Name"]} for column in columns]})
            offset, size = 0, size - 1
        total = doc.get("_Rows", result_rows(path))
        if offset < 0 or offset > total:
            raise invalid_request("Invalid pagination token (NextToken)")
        for values in read_page(path, offset, size):
            rows.append({"Data": [{} if value is None else {"VarCharValue": value} for value in values]})
        response: dict[str, Any] = {
            "UpdateCount": 0,
            "ResultSet": {"Rows": rows, "ResultSetMetadata": {"ColumnInfo": columns}},
        }
        if offset + size < total:
            response["NextToken"] = encode_token(offset + size)
        return response

    # ---------------------------------------------------------------- catalog metadata
    def _catalog_name(self, params: Params) -> None:
        name = params.get("CatalogName", "AwsDataCatalog")
        if name.lower() != "awsdatacatalog":
            raise _metadata_error(f"Catalog {name} not found.")

    @operation("ListDataCatalogs")
    def list_data_catalogs(self, params: Params) -> dict[str, Any]:
        return {"DataCatalogsSummary": [{"CatalogName": "AwsDataCatalog", "Type": "GLUE", "Status": "CREATE_COMPLETE"}]}

    @operation("GetDataCatalog")
    def get_data_catalog(self, params: Params) -> dict[str, Any]:
        if params["Name"].lower() != "awsdatacatalog":
            raise invalid_request(f"Catalog {params['Name']} was not found.")
        return {"DataCatalog": {"Name": "AwsDataCatalog", "Type": "GLUE", "Parameters": {"catalog-id": "000000000000"}}}

    @operation("ListDatabases")
    def list_databases(self, params: Params) -> dict[str, Any]:
        self._catalog_name(params)
        items, after = self.store.page(
            "database",
            "",
            after=decode_token(params.get("NextToken"), error_code="InvalidRequestException"),
            limit=page_size(params, 50, 50),
        )
        databases = [
            {"Name": doc["Name"], "Description": doc.get("Description", ""), "Parameters": doc.get("Parameters", {})}
            for _, doc in items
        ]
        response: dict[str, Any] = {"DatabaseList": databases}
        if after is not None:
            response["NextToken"] = encode_token(after)
        return response

    @operation("GetDatabase")
    def get_database(self, params: Params) -> dict[str, Any]:
        self._catalog_name(params)
        doc = self.store.get("database", "", params["DatabaseName"].lower())
        if doc is None:
            raise _metadata_error(f"Database {params['DatabaseName']} not found.")
        return {
            "Database": {
                "Name": doc["Name"],
                "Description": doc.get("Description", ""),
                "Parameters": doc.get("Parameters", {}),
            }
        }

    @staticmethod
    def _table_metadata(doc: dict[str, Any]) -> dict[str, Any]:
        def columns(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
            return [
                {"Name": c["Name"], "Type": c.get("Type", "string"), "Comment": c.get("Comment", "")} for c in items
            ]

        descriptor = doc.get("StorageDescriptor") or {}
        parameters = dict(doc.get("Parameters") or {})
        for key in ("Location", "InputFormat", "OutputFormat"):
            if descriptor.get(key):
                parameters[key.lower()] = descriptor[key]
        serde = (descriptor.get("SerdeInfo") or {}).get("SerializationLibrary")
        if serde:
            parameters["serde.serialization.lib"] = serde
        return {
            "Name": doc["Name"],
            "CreateTime": doc.get("CreateTime"),
            "LastAccessTime": doc.get("LastAccessTime", doc.get("CreateTime")),
            "TableType": doc.get("TableType", "EXTERNAL_TABLE"),
            "Columns": columns(descriptor.get("Columns") or []),
            "PartitionKeys": columns(doc.get("PartitionKeys") or []),
            "Parameters": parameters,
        }

    @operation("GetTableMetadata")
    def get_table_metadata(self, params: Params) -> dict[str, Any]:
        self._catalog_name(params)
        doc = self.store.get("table", params["DatabaseName"].lower(), params["TableName"].lower())
        if doc is None:
            raise _metadata_error(f"Table {params['DatabaseName']}.{params['TableName']} not found.")
        return {"TableMetadata": self._table_metadata(doc)}

    @operation("ListTableMetadata")
    def list_table_metadata(self, params: Params) -> dict[str, Any]:
        self._catalog_name(params)
        database = params["DatabaseName"].lower()
        if self.store.get("database", "", database) is None:
            raise _metadata_error(f"Database {params['DatabaseName']} not found.")
        items, after = self.store.page(
            "table",
            database,
            after=decode_token(params.get("NextToken"), error_code="InvalidRequestException"),
            limit=page_size(params, 50, 50),
        )
        pattern = params.get("Expression")
        metadata = [self._table_metadata(doc) for _, doc in items]
        if pattern:
            metadata = [m for m in metadata if fnmatch.fnmatch(m["Name"], pattern.lower())]
        response: dict[str, Any] = {"TableMetadataList": metadata}
        if after is not None:
            response["NextToken"] = encode_token(after)
        return response
