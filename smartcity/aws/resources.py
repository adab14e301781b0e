"""The AWS resources the pipeline needs, as data: names, tags and the exact API inputs that create them.

The crawlers are the DAGs' own (``plugins.lake.crawler_configs``, which the DAGs hand to
``GlueCrawlerCreateOperator``/``GlueCrawlerUpdateOperator``), so a crawler bootstrap made is exactly the one
the DAGs expect and their update step finds nothing to change.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from plugins.lake import LakeNames, crawler_configs
from smartcity.settings import Settings

# Every resource bootstrap creates carries these tags. The second one is how teardown recognises what it
# may delete: a resource without it existed before (or was made by someone else) and is left alone.
MANAGED_BY_KEY = "smartcity:managed-by"
MANAGED_BY_VALUE = "smartcity-aws-bootstrap"
TAGS: dict[str, str] = {"project": "smartcity", MANAGED_BY_KEY: MANAGED_BY_VALUE}

DEFAULT_WORKGROUP = "smartcity"

# Athena bills per byte scanned ($5 per TB); a query that would scan more than this is cancelled.
QUERY_SCAN_LIMIT_BYTES = 10 * 1024**3

_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_GLUE_NAME_RE = re.compile(r"^[a-z0-9_]{1,255}$")
_WORKGROUP_RE = re.compile(r"^[a-zA-Z0-9._-]{1,128}$")


class InvalidNameError(ValueError):
    """A configured name AWS would refuse; the message names the setting to change."""


def bucket_of(uri: str) -> str:
    """'s3://bucket/prefix/' -> 'bucket'."""
    return uri.removeprefix("s3://").removeprefix("s3a://").split("/", 1)[0]


@dataclass(frozen=True)
class Names:
    """The names of the pipeline's resources (from the settings and the command's options)."""

    images_bucket: str
    lake_bucket: str
    athena_output: str
    glue_database: str
    crawler_role: str
    workgroup: str = DEFAULT_WORKGROUP

    @property
    def athena_output_bucket(self) -> str:
        return bucket_of(self.athena_output)

    @property
    def buckets(self) -> tuple[str, ...]:
        """The buckets, each once (the Athena output may share the lake's bucket)."""
        return tuple(dict.fromkeys([self.images_bucket, self.lake_bucket, self.athena_output_bucket]))

    @property
    def lake(self) -> LakeNames:
        """The same names as the DAGs see them."""
        return LakeNames(
            lake_bucket=self.lake_bucket,
            images_bucket=self.images_bucket,
            athena_output=self.athena_output,
            database=self.glue_database,
            crawler_role=self.crawler_role,
        )

    @property
    def crawlers(self) -> tuple[str, ...]:
        return tuple(crawler_configs(self.lake))

    def validate(self) -> Names:
        checks = [
            (_BUCKET_RE, self.images_bucket, "SMARTCITY_IMAGES_BUCKET", "3-63 lower-case letters, digits, . or -"),
            (_BUCKET_RE, self.lake_bucket, "SMARTCITY_LAKE_BUCKET", "3-63 lower-case letters, digits, . or -"),
            (_GLUE_NAME_RE, self.glue_database, "SMARTCITY_GLUE_DATABASE", "lower-case letters, digits and _"),
            (_WORKGROUP_RE, self.workgroup, "--workgroup", "letters, digits, _ . -"),
        ]
        for pattern, value, setting, rule in checks:
            if not pattern.match(value):
                raise InvalidNameError(f"{setting}={value!r} is not a valid name ({rule}).")
        if not self.athena_output.startswith("s3://") or not _BUCKET_RE.match(self.athena_output_bucket):
            raise InvalidNameError(
                f"SMARTCITY_ATHENA_OUTPUT={self.athena_output!r} must be an s3://bucket/prefix/ location."
            )
        if not self.crawler_role:
            raise InvalidNameError("--crawler-role is empty: give the Glue crawler's IAM role name or ARN.")
        return self


def names_from(settings: Settings, *, workgroup: str = DEFAULT_WORKGROUP, crawler_role: str | None = None) -> Names:
    """The validated resource names for ``settings``."""
    output = settings.athena_output if settings.athena_output.endswith("/") else settings.athena_output + "/"
    return Names(
        images_bucket=settings.images_bucket,
        lake_bucket=settings.lake_bucket,
        athena_output=output,
        glue_database=settings.glue_database,
        crawler_role=crawler_role or settings.glue_crawler_role,
        workgroup=workgroup,
    ).validate()


def crawler_config(names: Names, crawler: str) -> dict[str, Any]:
    """``CreateCrawler`` input for one of the DAGs' crawlers, with the managed-by tags added."""
    config = dict(crawler_configs(names.lake)[crawler])
    config["Tags"] = {**config.get("Tags", {}), **TAGS}
    return config


def crawler_update(names: Names, crawler: str) -> dict[str, Any]:
    """``UpdateCrawler`` input (tags are not part of it)."""
    return {key: value for key, value in crawler_configs(names.lake)[crawler].items() if key != "Tags"}


def database_input(names: Names) -> dict[str, Any]:
    return {"Name": names.glue_database, "Description": "smartcity lake: one table per stream (Glue crawler)."}


def workgroup_configuration(names: Names) -> dict[str, Any]:
    """The work group's ``Configuration``: results to the output location, enforced, with a scan limit."""
    return {
        "ResultConfiguration": {"OutputLocation": names.athena_output},
        "EnforceWorkGroupConfiguration": True,
        "BytesScannedCutoffPerQuery": QUERY_SCAN_LIMIT_BYTES,
    }


WORKGROUP_DESCRIPTION = "smartcity pipeline queries; created by smartcity aws bootstrap."
