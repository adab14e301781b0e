"""The four kinds of resource bootstrap manages: how to look at one, create, update and delete it.

``observe`` only reads (a dry run makes no change). Ownership is the ``smartcity:managed-by`` tag that
``create`` attaches; teardown deletes only resources that carry it.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar

from botocore.exceptions import ClientError

from smartcity.aws.clients import AwsClients, AwsSetupError, error_code, error_message
from smartcity.aws.resources import (
    MANAGED_BY_KEY,
    MANAGED_BY_VALUE,
    TAGS,
    WORKGROUP_DESCRIPTION,
    Names,
    crawler_config,
    crawler_update,
    database_input,
    workgroup_configuration,
)


@dataclass(frozen=True)
class Observed:
    """What is there now."""

    exists: bool
    managed: bool = False  # carries the managed-by tag (bootstrap created it)
    drift: tuple[str, ...] = ()  # settings that differ from the wanted configuration
    busy: str | None = None  # why it cannot be changed right now (a crawl is running)


ABSENT = Observed(exists=False)


def differences(wanted: Any, actual: Any, path: str = "") -> list[str]:
    """Paths where ``actual`` differs from ``wanted``; keys absent from ``wanted`` are not compared
    (services add defaults of their own)."""
    if isinstance(wanted, dict):
        if not isinstance(actual, dict):
            return [path or "."]
        found: list[str] = []
        for key, value in wanted.items():
            found += differences(value, actual.get(key), f"{path}.{key}" if path else key)
        return found
    if isinstance(wanted, list):
        if not isinstance(actual, list) or len(actual) != len(wanted):
            return [path]
        return [p for index, item in enumerate(wanted) for p in differences(item, actual[index], f"{path}[{index}]")]
    return [] if wanted == actual else [path]


def _is_managed(tags: dict[str, str]) -> bool:
    return tags.get(MANAGED_BY_KEY) == MANAGED_BY_VALUE


class Resource(ABC):
    kind: ClassVar[str]

    def __init__(self, clients: AwsClients, names: Names, name: str) -> None:
        self.clients = clients
        self.names = names
        self.name = name

    @abstractmethod
    def observe(self) -> Observed: ...

    @abstractmethod
    def create(self) -> None: ...

    def update(self) -> None:
        raise NotImplementedError(f"{self.kind} has no updatable settings")

    @abstractmethod
    def delete(self, delete_data: bool) -> None: ...

    def holds_data(self) -> int:
        """How many objects would be lost by deleting it (buckets only)."""
        return 0


class Bucket(Resource):
    kind = "S3 bucket"

    def observe(self) -> Observed:
        s3 = self.clients.s3
        try:
            s3.head_bucket(Bucket=self.name)
        except ClientError as exc:
            code = error_code(exc)
            if code in {"404", "NoSuchBucket", "NotFound"}:
                return ABSENT
            if code in {"403", "AccessDenied", "Forbidden"}:
                raise AwsSetupError(
                    f"Bucket {self.name} exists but this account may not use it (bucket names are global: "
                    "another account may own it). Choose another name in the SMARTCITY_*_BUCKET settings."
                ) from exc
            raise
        try:
            tag_set = s3.get_bucket_tagging(Bucket=self.name)["TagSet"]
        except ClientError as exc:
            if error_code(exc) != "NoSuchTagSet":
                raise
            tag_set = []
        return Observed(exists=True, managed=_is_managed({t["Key"]: t["Value"] for t in tag_set}))

    def create(self) -> None:
        s3 = self.clients.s3
        params: dict[str, Any] = {"Bucket": self.name}
        if self.clients.region != "us-east-1":
            params["CreateBucketConfiguration"] = {"LocationConstraint": self.clients.region}
        try:
            s3.create_bucket(**params)
        except ClientError as exc:
            if error_code(exc) == "BucketAlreadyExists":
                raise AwsSetupError(
                    f"Bucket name {self.name} is taken by another account; choose another SMARTCITY_*_BUCKET."
                ) from exc
            raise
        s3.put_bucket_tagging(Bucket=self.name, Tagging={"TagSet": [{"Key": k, "Value": v} for k, v in TAGS.items()]})

    def holds_data(self) -> int:
        listed = self.clients.s3.list_objects_v2(Bucket=self.name, MaxKeys=1000)
        return int(listed.get("KeyCount", 0))

    def delete(self, delete_data: bool) -> None:
        s3 = self.clients.s3
        if delete_data:
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket=self.name):
                keys = [{"Key": item["Key"]} for item in page.get("Contents", [])]
                if keys:
                    result = s3.delete_objects(Bucket=self.name, Delete={"Objects": keys, "Quiet": True})
                    if result.get("Errors"):
                        first = result["Errors"][0]
                        raise AwsSetupError(
                            f"Could not delete {len(result['Errors'])} objects in {self.name} "
                            f"(first: {first.get('Key')}: {first.get('Message')})."
                        )
        try:
            s3.delete_bucket(Bucket=self.name)
        except ClientError as exc:
            if error_code(exc) == "BucketNotEmpty":
                raise AwsSetupError(
                    f"Bucket {self.name} is not empty (object versions or new objects?): {error_message(exc)}"
                ) from exc
            raise


class Database(Resource):
    kind = "Glue database"

    def observe(self) -> Observed:
        glue = self.clients.glue
        try:
            glue.get_database(Name=self.name)
        except ClientError as exc:
            if error_code(exc) == "EntityNotFoundException":
                return ABSENT
            raise
        tags = glue.get_tags(ResourceArn=self.clients.glue_arn("database", self.name))["Tags"]
        return Observed(exists=True, managed=_is_managed(tags))

    def create(self) -> None:
        self.clients.glue.create_database(DatabaseInput=database_input(self.names), Tags=TAGS)

    def delete(self, delete_data: bool) -> None:
        # Deletes its tables and partitions too (catalog entries only; the data stays in S3).
        self.clients.glue.delete_database(Name=self.name)


def _comparable_crawler(config: dict[str, Any]) -> dict[str, Any]:
    """The crawler settings bootstrap owns, in a form where equal settings compare equal."""
    targets = sorted(config.get("Targets", {}).get("S3Targets", []), key=lambda t: t.get("Path", ""))
    raw = config.get("Configuration")
    return {
        "Role": config.get("Role"),
        "DatabaseName": config.get("DatabaseName"),
        "Description": config.get("Description"),
        "S3Targets": [{"Path": t.get("Path"), "Exclusions": t.get("Exclusions", [])} for t in targets],
        "SchemaChangePolicy": config.get("SchemaChangePolicy"),
        "RecrawlPolicy": config.get("RecrawlPolicy"),
        "Configuration": json.loads(raw) if raw else None,
    }


class Crawler(Resource):
    kind = "Glue crawler"

    def observe(self) -> Observed:
        glue = self.clients.glue
        try:
            actual = glue.get_crawler(Name=self.name)["Crawler"]
        except ClientError as exc:
            if error_code(exc) == "EntityNotFoundException":
                return ABSENT
            raise
        tags = glue.get_tags(ResourceArn=self.clients.glue_arn("crawler", self.name))["Tags"]
        drift = differences(_comparable_crawler(crawler_update(self.names, self.name)), _comparable_crawler(actual))
        state = actual.get("State", "READY")
        busy = None if state == "READY" else f"a crawl is {state.lower()}"
        return Observed(exists=True, managed=_is_managed(tags), drift=tuple(drift), busy=busy)

    def create(self) -> None:
        self.clients.glue.create_crawler(**crawler_config(self.names, self.name))

    def update(self) -> None:
        self.clients.glue.update_crawler(**crawler_update(self.names, self.name))

    def delete(self, delete_data: bool) -> None:
        self.clients.glue.delete_crawler(Name=self.name)


class WorkGroup(Resource):
    kind = "Athena work group"

    def observe(self) -> Observed:
        athena = self.clients.athena
        try:
            actual = athena.get_work_group(WorkGroup=self.name)["WorkGroup"]
        except ClientError as exc:
            if error_code(exc) == "InvalidRequestException" and "not found" in error_message(exc).lower():
                return ABSENT
            raise
        drift = differences(workgroup_configuration(self.names), actual.get("Configuration", {}))
        return Observed(exists=True, managed=self._managed(actual), drift=tuple(drift))

    def _managed(self, actual: dict[str, Any]) -> bool:
        try:
            tags = self.clients.athena.list_tags_for_resource(ResourceARN=self.clients.workgroup_arn(self.name))
        except ClientError as exc:
            if error_code(exc) != "UnknownOperationException":
                raise
            # An Athena-compatible endpoint without the tagging API (the local stand-in has none yet): the
            # description bootstrap wrote is the record instead.
            return actual.get("Description") == WORKGROUP_DESCRIPTION
        return _is_managed({t["Key"]: t["Value"] for t in tags["Tags"]})

    def create(self) -> None:
        self.clients.athena.create_work_group(
            Name=self.name,
            Description=WORKGROUP_DESCRIPTION,
            Configuration=workgroup_configuration(self.names),
            Tags=[{"Key": k, "Value": v} for k, v in TAGS.items()],
        )

    def update(self) -> None:
        wanted = workgroup_configuration(self.names)
        self.clients.athena.update_work_group(
            WorkGroup=self.name,
            ConfigurationUpdates={
                "ResultConfigurationUpdates": {"OutputLocation": wanted["ResultConfiguration"]["OutputLocation"]},
                "EnforceWorkGroupConfiguration": wanted["EnforceWorkGroupConfiguration"],
                "BytesScannedCutoffPerQuery": wanted["BytesScannedCutoffPerQuery"],
            },
        )

    def delete(self, delete_data: bool) -> None:
        # Recursive: its saved queries and query history go with it (the result files stay in S3).
        self.clients.athena.delete_work_group(WorkGroup=self.name, RecursiveDeleteOption=True)


def resources(clients: AwsClients, names: Names) -> list[Resource]:
    """Every resource, in creation order (teardown goes backwards)."""
    return [
        *(Bucket(clients, names, bucket) for bucket in names.buckets),
        Database(clients, names, names.glue_database),
        *(Crawler(clients, names, crawler) for crawler in names.crawlers),
        WorkGroup(clients, names, names.workgroup),
    ]
