"""Glue crawler operations and crawl runs.

A crawler moves through the states AWS uses: ``READY`` -> ``RUNNING`` (StartCrawler) -> ``STOPPING`` ->
``READY``, with ``LastCrawl.Status`` ``SUCCEEDED``, ``CANCELLED`` (StopCrawler) or ``FAILED`` (with its
``ErrorMessage``). Runs happen on a small thread pool; the catalog changes of a run are applied in one
transaction at its end, so a cancelled or failed crawl changes nothing. Schedules are stored but not run.
"""

from __future__ import annotations

import copy
import logging
import statistics
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from smartcity.standin import crawler as engine
from smartcity.standin.crawl_results import CatalogCrawl, crawler_configuration
from smartcity.standin.errors import AwsError, invalid_input, not_found
from smartcity.standin.glue_catalog import GlueCatalog
from smartcity.standin.lake import LocationError
from smartcity.standin.paging import decode_token, encode_token
from smartcity.standin.service import Params, Service, now, operation, page_size

log = logging.getLogger(__name__)

_UPDATABLE = (
    "Role",
    "DatabaseName",
    "Description",
    "Targets",
    "Schedule",
    "Classifiers",
    "TablePrefix",
    "SchemaChangePolicy",
    "RecrawlPolicy",
    "LineageConfiguration",
    "LakeFormationConfiguration",
    "Configuration",
    "CrawlerSecurityConfiguration",
)
_UNSUPPORTED_TARGETS = (
    "JdbcTargets",
    "MongoDBTargets",
    "DynamoDBTargets",
    "CatalogTargets",
    "DeltaTargets",
    "IcebergTargets",
    "HudiTargets",
)


class GlueCrawlers(Service):
    service_name = "glue"

    def __init__(self, catalog: GlueCatalog, workers: int = 2) -> None:
        self.catalog = catalog
        self.store = catalog.store
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="crawl")
        self._cancel: dict[str, threading.Event] = {}
        self._lock = threading.Lock()
        self._recover()

    def _recover(self) -> None:
        """Crawls that were running when the stand-in stopped ended with it."""
        for _, name, doc in self.store.all_kinds("crawler"):
            if doc.get("State") in ("RUNNING", "STOPPING"):
                doc["State"] = "READY"
                doc["LastCrawl"] = _last_crawl(doc, "FAILED", "Crawl interrupted: the stand-in stopped while it ran.")
                doc.pop("_StartedAt", None)
                self.store.put("crawler", "", name, doc)

    def shutdown(self) -> None:
        for event in list(self._cancel.values()):
            event.set()
        self._pool.shutdown(wait=True, cancel_futures=True)

    # ------------------------------------------------------------------ helpers
    def _get(self, name: str) -> dict[str, Any]:
        doc = self.store.get("crawler", "", name)
        if doc is None:
            raise not_found(f"Crawler entry with name {name} does not exist")
        return doc

    def _validate(self, doc: dict[str, Any]) -> None:
        targets = doc.get("Targets") or {}
        for kind in _UNSUPPORTED_TARGETS:
            if targets.get(kind):
                raise invalid_input(f"{kind} are not supported by the local stand-in: only S3Targets can be crawled.")
        if not targets.get("S3Targets"):
            raise invalid_input("Crawler must have at least one S3 target (Targets.S3Targets).")
        for target in targets["S3Targets"]:
            try:
                self.catalog.lake.readable_location(target.get("Path", ""))
            except LocationError as exc:
                raise invalid_input(f"Invalid S3 target: {exc}") from None
            if target.get("ConnectionName") or target.get("EventQueueArn"):
                raise invalid_input("S3 targets with a connection or an event queue are not supported locally.")
        if not doc.get("DatabaseName"):
            raise invalid_input("A crawler needs a DatabaseName to write its tables to.")
        crawler_configuration(doc)
        recrawl = (doc.get("RecrawlPolicy") or {}).get("RecrawlBehavior", "CRAWL_EVERYTHING")
        policy = doc.get("SchemaChangePolicy") or {}
        if recrawl == "CRAWL_NEW_FOLDERS_ONLY" and (
            policy.get("UpdateBehavior") != "LOG" or policy.get("DeleteBehavior") != "LOG"
        ):
            raise invalid_input(
                "The SchemaChangePolicy for Crawl new folders only Amazon S3 target can have only LOG "
                "DeleteBehavior value and LOG UpdateBehavior value."
            )
        if recrawl == "CRAWL_EVENT_MODE":
            raise invalid_input("CRAWL_EVENT_MODE needs S3 event queues, which the local stand-in does not have.")

    @staticmethod
    def _public(doc: dict[str, Any]) -> dict[str, Any]:
        public = {key: value for key, value in doc.items() if not key.startswith("_")}
        if doc.get("State") == "RUNNING" and doc.get("_StartedAt"):
            public["CrawlElapsedTime"] = int((time.time() - doc["_StartedAt"]) * 1000)
        return public

    # ------------------------------------------------------------------ CRUD
    @operation("CreateCrawler")
    def create_crawler(self, params: Params) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "Name": params["Name"],
            "Role": params["Role"],
            "Targets": _full_targets(params.get("Targets") or {}),
            "DatabaseName": params.get("DatabaseName", ""),
            "Description": params.get("Description", ""),
            "Classifiers": params.get("Classifiers", []),
            "RecrawlPolicy": params.get("RecrawlPolicy") or {"RecrawlBehavior": "CRAWL_EVERYTHING"},
            "SchemaChangePolicy": {
                "UpdateBehavior": "UPDATE_IN_DATABASE",
                "DeleteBehavior": "DEPRECATE_IN_DATABASE",
                **(params.get("SchemaChangePolicy") or {}),
            },
            "LineageConfiguration": params.get("LineageConfiguration") or {"CrawlerLineageSettings": "DISABLE"},
            "State": "READY",
            "TablePrefix": params.get("TablePrefix", ""),
            "CrawlElapsedTime": 0,
            "CreationTime": now(),
            "LastUpdated": now(),
            "Version": 1,
            "LakeFormationConfiguration": params.get("LakeFormationConfiguration")
            or {"UseLakeFormationCredentials": False, "AccountId": ""},
        }
        for optional in ("Configuration", "CrawlerSecurityConfiguration"):
            if params.get(optional):
                doc[optional] = params[optional]
        if params.get("Schedule"):
            doc["Schedule"] = {"ScheduleExpression": params["Schedule"], "State": "SCHEDULED"}
        self._validate(doc)
        if not self.store.insert("crawler", "", doc["Name"], doc):
            raise AwsError("AlreadyExistsException", f"{doc['Name']} already exists")
        if params.get("Tags"):
            self.store.put("tags", "", self.catalog.arn("crawler", doc["Name"]), dict(params["Tags"]))
        return {}

    @operation("GetCrawler")
    def get_crawler(self, params: Params) -> dict[str, Any]:
        return {"Crawler": self._public(self._get(params["Name"]))}

    @operation("GetCrawlers")
    def get_crawlers(self, params: Params) -> dict[str, Any]:
        items, after = self.store.page(
            "crawler", "", after=decode_token(params.get("NextToken")), limit=page_size(params, 100, 1000)
        )
        response: dict[str, Any] = {"Crawlers": [self._public(doc) for _, doc in items]}
        if after is not None:
            response["NextToken"] = encode_token(after)
        return response

    @operation("BatchGetCrawlers")
    def batch_get_crawlers(self, params: Params) -> dict[str, Any]:
        found, missing = [], []
        for name in params["CrawlerNames"]:
            doc = self.store.get("crawler", "", name)
            if doc is None:
                missing.append(name)
            else:
                found.append(self._public(doc))
        return {"Crawlers": found, "CrawlersNotFound": missing}

    @operation("ListCrawlers")
    def list_crawlers(self, params: Params) -> dict[str, Any]:
        names = self.store.names("crawler", "")
        wanted_tags = params.get("Tags") or {}
        if wanted_tags:
            names = [
                name
                for name in names
                if wanted_tags.items() <= (self.store.get("tags", "", self.catalog.arn("crawler", name)) or {}).items()
            ]
        after = decode_token(params.get("NextToken"))
        if after is not None:
            names = [name for name in names if name > after]
        size = page_size(params, 100, 1000)
        response: dict[str, Any] = {"CrawlerNames": names[:size]}
        if len(names) > size:
            response["NextToken"] = encode_token(names[size - 1])
        return response

    @operation("UpdateCrawler")
    def update_crawler(self, params: Params) -> dict[str, Any]:
        with self._lock:
            doc = self._get(params["Name"])
            if doc["State"] != "READY":
                raise AwsError(
                    "CrawlerRunningException", "Cannot update Crawler while running. Please stop crawl and try again."
                )
            updated = copy.deepcopy(doc)
            for key in _UPDATABLE:
                if key not in params:
                    continue
                if key == "Schedule":
                    updated["Schedule"] = {"ScheduleExpression": params[key], "State": "SCHEDULED"}
                elif key == "Targets":
                    updated["Targets"] = _full_targets(params[key])
                elif key == "SchemaChangePolicy":
                    updated[key] = {**doc.get(key, {}), **params[key]}
                else:
                    updated[key] = params[key]
            self._validate(updated)
            updated["LastUpdated"] = now()
            updated["Version"] = doc.get("Version", 1) + 1
            self.store.put("crawler", "", doc["Name"], updated)
        return {}

    @operation("DeleteCrawler")
    def delete_crawler(self, params: Params) -> dict[str, Any]:
        with self._lock:
            doc = self._get(params["Name"])
            if doc["State"] != "READY":
                raise AwsError("CrawlerRunningException", f"Crawler {doc['Name']} is running. Stop it before deleting.")
            self.store.delete("crawler", "", doc["Name"])
            self.store.delete("tags", "", self.catalog.arn("crawler", doc["Name"]))
        return {}

    # ------------------------------------------------------------------ runs
    @operation("StartCrawler")
    def start_crawler(self, params: Params) -> dict[str, Any]:
        with self._lock:
            doc = self._get(params["Name"])
            if doc["State"] != "READY":
                raise AwsError("CrawlerRunningException", f"Crawler with name {doc['Name']} has already started")
            doc["State"] = "RUNNING"
            doc["_StartedAt"] = time.time()
            doc["_RunId"] = str(uuid.uuid4())
            self.store.put("crawler", "", doc["Name"], doc)
            cancel = self._cancel[doc["Name"]] = threading.Event()
        log.info("crawler %s: started", doc["Name"])
        self._pool.submit(self._run, doc["Name"], cancel)
        return {}

    @operation("StopCrawler")
    def stop_crawler(self, params: Params) -> dict[str, Any]:
        with self._lock:
            doc = self._get(params["Name"])
            if doc["State"] == "STOPPING":
                raise AwsError("CrawlerStoppingException", f"Crawler with name {doc['Name']} is already stopping")
            if doc["State"] != "RUNNING":
                raise AwsError("CrawlerNotRunningException", f"Crawler with name {doc['Name']} has already stopped")
            doc["State"] = "STOPPING"
            self.store.put("crawler", "", doc["Name"], doc)
            event = self._cancel.get(doc["Name"])
        if event is not None:
            event.set()
        return {}

    @operation("GetCrawlerMetrics")
    def get_crawler_metrics(self, params: Params) -> dict[str, Any]:
        names = params.get("CrawlerNameList") or self.store.names("crawler", "")
        metrics = []
        for name in names:
            doc = self.store.get("crawler", "", name)
            if doc is None:
                continue
            runtimes = doc.get("_Runtimes", [])
            last = doc.get("_LastMetrics", {})
            running = doc["State"] == "RUNNING"
            metrics.append(
                {
                    "CrawlerName": name,
                    "TimeLeftSeconds": 0.0,
                    "StillEstimating": running,
                    "LastRuntimeSeconds": runtimes[-1] if runtimes else 0.0,
                    "MedianRuntimeSeconds": statistics.median(runtimes) if runtimes else 0.0,
                    "TablesCreated": last.get("created", 0),
                    "TablesUpdated": last.get("updated", 0),
                    "TablesDeleted": last.get("deleted", 0),
                }
            )
        after = decode_token(params.get("NextToken"))
        if after is not None:
            metrics = [item for item in metrics if item["CrawlerName"] > after]
        size = page_size(params, 100, 1000)
        response: dict[str, Any] = {"CrawlerMetricsList": metrics[:size]}
        if len(metrics) > size:
            response["NextToken"] = encode_token(metrics[size - 1]["CrawlerName"])
        return response

    def _run(self, name: str, cancel: threading.Event) -> None:
        started = time.time()
        status, error, counts = "SUCCEEDED", None, {"created": 0, "updated": 0, "deleted": 0}
        try:
            doc = self._get(name)
            counts = CatalogCrawl(self.catalog).run(doc, cancel)
        except engine.CrawlCancelled:
            status = "CANCELLED"
        except AwsError as exc:
            status, error = "FAILED", exc.message
        except Exception as exc:  # a crawl that breaks must end FAILED with the reason, never stay RUNNING
            log.exception("crawler %s: failed", name)
            status, error = "FAILED", f"Internal Service Exception: {exc}"
        if cancel.is_set() and status == "SUCCEEDED":
            status = "CANCELLED"
        elapsed = round(time.time() - started, 3)
        with self._lock:
            doc = self.store.get("crawler", "", name)
            self._cancel.pop(name, None)
            if doc is None:  # deleted meanwhile (cannot happen through the API: running crawlers are kept)
                return
            doc["LastCrawl"] = _last_crawl(doc, status, error)
            doc["State"] = "READY"
            doc["_Runtimes"] = ([*doc.get("_Runtimes", []), elapsed])[-20:]
            if status == "SUCCEEDED":
                doc["_LastMetrics"] = counts
            doc.pop("_StartedAt", None)
            self.store.put("crawler", "", name, doc)
        log.info("crawler %s: %s in %.2f s %s%s", name, status, elapsed, counts, f" ({error})" if error else "")


def _full_targets(targets: dict[str, Any]) -> dict[str, Any]:
    full: dict[str, Any] = {kind: [] for kind in ("S3Targets", *_UNSUPPORTED_TARGETS)}
    full.update(copy.deepcopy(targets))
    for target in full["S3Targets"]:
        target.setdefault("Exclusions", [])
    return full


def _last_crawl(doc: dict[str, Any], status: str, error: str | None) -> dict[str, Any]:
    last = {
        "Status": status,
        "LogGroup": "/aws-glue/crawlers",
        "LogStream": doc["Name"],
        "MessagePrefix": doc.get("_RunId", str(uuid.uuid4())),
        "StartTime": doc.get("_StartedAt", now()),
    }
    if error:
        last["ErrorMessage"] = error
    return last
