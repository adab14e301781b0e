"""boto3 clients for the pipeline's services, and the ARNs of its resources in the caller's account."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from botocore.exceptions import ClientError

from smartcity.settings import Settings


class AwsSetupError(Exception):
    """An expected problem (name taken, resource busy, no permission): printed as a message, exit code 1."""


def error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def error_message(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Message", exc))


@dataclass
class AwsClients:
    """Lazily created clients for S3, Glue, Athena and STS, all from ``Settings.boto3_client``."""

    settings: Settings
    _clients: dict[str, Any] = field(default_factory=dict, repr=False)

    def client(self, service: str) -> Any:
        if service not in self._clients:
            self._clients[service] = self.settings.boto3_client(service)
        return self._clients[service]

    @property
    def s3(self) -> Any:
        return self.client("s3")

    @property
    def glue(self) -> Any:
        return self.client("glue")

    @property
    def athena(self) -> Any:
        return self.client("athena")

    @property
    def region(self) -> str:
        return self.settings.aws_region

    @cached_property
    def _identity(self) -> dict[str, str]:
        # GetCallerIdentity needs no IAM permission; it tells the account and partition the ARNs live in.
        return self.client("sts").get_caller_identity()

    @property
    def account(self) -> str:
        return self._identity["Account"]

    @property
    def partition(self) -> str:
        return self._identity["Arn"].split(":")[1]

    def glue_arn(self, kind: str, name: str) -> str:
        return f"arn:{self.partition}:glue:{self.region}:{self.account}:{kind}/{name}"

    def workgroup_arn(self, name: str) -> str:
        return f"arn:{self.partition}:athena:{self.region}:{self.account}:workgroup/{name}"
