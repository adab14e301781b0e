"""Helpers for the ``smartcity aws`` tests: recording the AWS calls made, and snapshots of what exists."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from smartcity.aws.clients import AwsClients
from smartcity.settings import Settings


@dataclass(frozen=True)
class Call:
    service: str  # the endpoint prefix: s3, glue, athena, sts
    operation: str  # as the API names it: HeadBucket
    params: dict[str, Any]

    @property
    def name(self) -> str:
        return f"{self.service}:{self.operation}"


@dataclass
class Recorder:
    """Every AWS call made through its clients, in order."""

    calls: list[Call] = field(default_factory=list)

    def clients(self, settings: Settings) -> AwsClients:
        clients = AwsClients(settings)
        for service in ("s3", "glue", "athena", "sts"):
            client = settings.boto3_client(service)
            client.meta.events.register("before-parameter-build.*.*", self._record)
            clients._clients[service] = client
        return clients

    def _record(self, model: Any, params: dict[str, Any], **_: Any) -> None:
        # before-parameter-build: ``params`` are the API arguments as the code passed them (paginators too).
        self.calls.append(Call(model.service_model.endpoint_prefix, model.name, dict(params)))

    def take(self) -> list[Call]:
        taken, self.calls = self.calls, []
        return taken


@dataclass(frozen=True)
class Snapshot:
    """Everything on the S3 and in the stand-in's catalog that bootstrap could touch."""

    buckets: frozenset[str]
    databases: frozenset[str]
    crawlers: frozenset[str]
    workgroups: frozenset[str]


def snapshot(settings: Settings) -> Snapshot:
    s3, glue, athena = (settings.boto3_client(s) for s in ("s3", "glue", "athena"))
    return Snapshot(
        buckets=frozenset(b["Name"] for b in s3.list_buckets()["Buckets"]),
        databases=frozenset(d["Name"] for d in glue.get_databases()["DatabaseList"]),
        crawlers=frozenset(glue.list_crawlers()["CrawlerNames"]),
        workgroups=frozenset(w["Name"] for w in athena.list_work_groups()["WorkGroups"]),
    )
