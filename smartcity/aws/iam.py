"""Least-privilege IAM policies, generated from the AWS calls the project makes.

Each principal's calls are listed once below as :class:`Use` rows (the API operation as botocore names it,
and which of the pipeline's resources it touches). The policy document is generated from those rows, so
it names only the actions the code performs, on only the resources bootstrap manages:

* ``bootstrap`` — whoever runs ``smartcity aws bootstrap|teardown`` (the rows mirror ``smartcity.aws.kinds``;
  ``tests/aws`` records the calls a real bootstrap/teardown makes and checks this policy allows each one);
* ``pipeline`` — the Airflow workers and the Spark job: the producer's uploads, Spark's s3a I/O on the lake,
  the crawler and Athena operators the DAGs use, the alert notifier (``tests/aws`` checks that every AWS
  operator and boto3 call in dags/, plugins/, producers/ and spark_jobs/ is covered);
* ``crawler`` — the role the Glue crawler itself runs as (``--crawler-role``), with :data:`CRAWLER_TRUST_POLICY`.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from typing import Literal

from smartcity.aws.resources import Names

Principal = Literal["bootstrap", "pipeline", "crawler"]
PRINCIPALS: tuple[Principal, ...] = ("bootstrap", "pipeline", "crawler")


@dataclass(frozen=True)
class Use:
    """One AWS call and the resources it is made on.

    ``call`` is ``service:Operation`` as the SDK names it (``s3:HeadBucket``); :func:`iam_actions` turns it
    into the IAM actions that authorise it. ``authorises_only`` rows are IAM actions with no API call of
    their own (``iam:PassRole`` when a crawler is given its role, ``TagResource`` for tags on create).
    """

    call: str
    scope: str
    why: str = ""
    authorises_only: bool = False


# SDK operations whose IAM action has another name; every other call is its own action.
_API_TO_IAM: dict[str, tuple[str, ...]] = {
    "s3:HeadBucket": ("s3:ListBucket",),
    "s3:ListObjectsV2": ("s3:ListBucket",),
    "s3:ListObjects": ("s3:ListBucket",),
    "s3:HeadObject": ("s3:GetObject",),
    "s3:DeleteObjects": ("s3:DeleteObject",),
    "s3:CopyObject": ("s3:GetObject", "s3:PutObject"),
    "s3:CreateMultipartUpload": ("s3:PutObject",),
    "s3:UploadPart": ("s3:PutObject",),
    "s3:CompleteMultipartUpload": ("s3:PutObject",),
    "s3:ListMultipartUploads": ("s3:ListBucketMultipartUploads",),
    "s3:ListBuckets": ("s3:ListAllMyBuckets",),
    "s3:ListParts": ("s3:ListMultipartUploadParts",),
    "sts:GetCallerIdentity": (),  # always allowed; needs no permission
}


def iam_actions(call: str) -> tuple[str, ...]:
    return _API_TO_IAM.get(call, (call,))


BOOTSTRAP: tuple[Use, ...] = (
    Use("sts:GetCallerIdentity", "none", "the account id in Glue/Athena ARNs"),
    # S3 buckets (kinds.Bucket)
    Use("s3:HeadBucket", "buckets"),
    Use("s3:GetBucketTagging", "buckets", "was it created by bootstrap?"),
    Use("s3:CreateBucket", "buckets"),
    Use("s3:PutBucketTagging", "buckets"),
    Use("s3:ListObjectsV2", "buckets", "teardown: is it empty? / empty it"),
    Use("s3:DeleteObjects", "bucket-objects", "teardown --delete-data"),
    Use("s3:DeleteBucket", "buckets"),
    # Glue database (kinds.Database)
    Use("glue:GetDatabase", "database"),
    Use("glue:GetTags", "database"),
    Use("glue:CreateDatabase", "database"),
    Use("glue:TagResource", "database", "tags given on create", authorises_only=True),
    Use("glue:DeleteDatabase", "database-and-tables", "deletes its tables and partitions too"),
    # Glue crawler (kinds.Crawler)
    Use("glue:GetCrawler", "crawler"),
    Use("glue:GetTags", "crawler"),
    Use("glue:CreateCrawler", "crawler"),
    Use("glue:UpdateCrawler", "crawler"),
    Use("glue:TagResource", "crawler", "tags given on create", authorises_only=True),
    Use("iam:PassRole", "crawler-role", "Create/UpdateCrawler hand the role to Glue", authorises_only=True),
    Use("glue:DeleteCrawler", "crawler"),
    # Athena work group (kinds.WorkGroup)
    Use("athena:GetWorkGroup", "workgroup"),
    Use("athena:ListTagsForResource", "workgroup"),
    Use("athena:CreateWorkGroup", "workgroup"),
    Use("athena:TagResource", "workgroup", "tags given on create", authorises_only=True),
    Use("athena:UpdateWorkGroup", "workgroup"),
    Use("athena:DeleteWorkGroup", "workgroup"),
)

# The AWS calls of the provider operators/sensors/hooks/notifiers the DAGs and plugins may use (read from
# providers-amazon 9.39 source). tests/aws fails when a DAG imports one that is not listed here.
OPERATOR_CALLS: dict[str, tuple[str, ...]] = {
    "GlueCrawlerOperator": (
        "glue:GetCrawler", "glue:UpdateCrawler", "glue:CreateCrawler", "glue:StartCrawler",
        "glue:GetCrawlerMetrics", "glue:GetTags", "glue:TagResource", "glue:UntagResource",
        "sts:GetCallerIdentity",
    ),
    "GlueCrawlerCreateOperator": ("glue:CreateCrawler",),
    "GlueCrawlerUpdateOperator": (
        "glue:GetCrawler", "glue:UpdateCrawler", "glue:GetTags", "glue:TagResource", "glue:UntagResource",
        "sts:GetCallerIdentity",
    ),
    "GlueCrawlerRunOperator": ("glue:StartCrawler", "glue:GetCrawler", "glue:GetCrawlerMetrics"),
    "GlueCrawlerSensor": ("glue:GetCrawler",),
    "GlueCrawlerHook": ("glue:GetCrawler", "glue:StartCrawler", "glue:GetCrawlerMetrics"),
    "GlueCatalogPartitionSensor": ("glue:GetPartitions",),
    "GlueCatalogHook": ("glue:GetPartitions", "glue:GetTable", "glue:GetDatabase"),
    "AthenaOperator": (
        "athena:StartQueryExecution", "athena:GetQueryExecution", "athena:StopQueryExecution",
    ),
    "AthenaSensor": ("athena:GetQueryExecution",),
    "AthenaHook": (
        "athena:StartQueryExecution", "athena:GetQueryExecution", "athena:GetQueryResults",
        "athena:StopQueryExecution",
    ),
    "AthenaSQLHook": (
        "athena:StartQueryExecution", "athena:GetQueryExecution", "athena:GetQueryResults",
        "athena:StopQueryExecution", "athena:GetTableMetadata",
    ),
    "S3CreateBucketOperator": ("s3:HeadBucket", "s3:CreateBucket"),
    "S3KeySensor": ("s3:HeadObject", "s3:ListObjectsV2"),
    "S3Hook": ("s3:HeadObject", "s3:GetObject", "s3:PutObject", "s3:ListObjectsV2"),
    "SnsNotifier": ("sns:Publish",),
    "SnsHook": ("sns:Publish",),
}  # fmt: skip

PIPELINE: tuple[Use, ...] = (
    # The journey DAG (S3CreateBucketOperator) and the producer create a bucket that is missing.
    Use("s3:HeadBucket", "buckets"),
    Use("s3:CreateBucket", "buckets"),
    # The producer: camera snapshots, and its run report in the lake.
    Use("s3:PutObject", "images-objects", "producer: camera snapshots"),
    Use("s3:PutObject", "lake-objects", "producer: run reports; Spark: Parquet, quarantine"),
    # Spark's s3a connector on the lake (data, quarantine, staging; checkpoints when they live in S3).
    Use("s3:ListObjectsV2", "lake-bucket"),
    Use("s3:GetBucketLocation", "lake-bucket"),
    Use("s3:ListMultipartUploads", "lake-bucket"),
    Use("s3:HeadObject", "lake-objects"),
    Use("s3:GetObject", "lake-objects"),
    Use("s3:CopyObject", "lake-objects", "s3a renames"),
    Use("s3:DeleteObjects", "lake-objects"),
    Use("s3:DeleteObject", "lake-objects"),
    Use("s3:AbortMultipartUpload", "lake-objects"),
    Use("s3:ListParts", "lake-objects"),
    # The DAGs' preflight (plugins.lake_tasks.check_services): can S3, Glue and Athena be reached at all?
    Use("s3:ListBuckets", "all", "ListAllMyBuckets has no resource-level permissions"),
    Use("glue:GetDatabases", "catalog-databases"),
    Use("athena:ListWorkGroups", "all", "ListWorkGroups has no resource-level permissions"),
    # Glue crawler operators and sensors (the crawler itself runs as its own role).
    Use("glue:CreateCrawler", "crawler", "GlueCrawlerCreateOperator, when bootstrap has not made it"),
    Use("glue:GetCrawler", "crawler"),
    Use("glue:StartCrawler", "crawler"),
    Use("glue:UpdateCrawler", "crawler", "GlueCrawlerOperator brings the crawler's config up to date"),
    Use("glue:GetTags", "crawler"),
    Use("glue:TagResource", "crawler"),
    Use("glue:UntagResource", "crawler"),
    Use("iam:PassRole", "crawler-role", "Create/UpdateCrawler hand the role to Glue", authorises_only=True),
    Use("glue:GetCrawlerMetrics", "all", "GetCrawlerMetrics has no resource-level permissions"),
    Use("sts:GetCallerIdentity", "none"),
    # Athena queries: the work group, the catalog they read, the lake they scan, the results they write.
    Use("athena:StartQueryExecution", "workgroup"),
    Use("athena:GetQueryExecution", "workgroup"),
    Use("athena:GetQueryResults", "workgroup"),
    Use("athena:StopQueryExecution", "workgroup"),
    Use("athena:GetWorkGroup", "workgroup"),
    Use("athena:GetTableMetadata", "data-catalog"),
    Use("glue:GetDatabase", "database-and-tables"),
    Use("glue:GetTable", "database-and-tables"),
    Use("glue:GetTables", "database-and-tables"),
    Use("glue:GetPartition", "database-and-tables"),
    Use("glue:GetPartitions", "database-and-tables"),
    Use("glue:BatchGetPartition", "database-and-tables"),
    Use("s3:GetBucketLocation", "output-bucket", "Athena checks the results bucket"),
    Use("s3:ListObjectsV2", "output-bucket"),
    Use("s3:ListMultipartUploads", "output-bucket"),
    Use("s3:GetObject", "output-objects"),
    Use("s3:PutObject", "output-objects"),
    Use("s3:AbortMultipartUpload", "output-objects"),
    Use("s3:ListParts", "output-objects"),
    Use("s3:GetObject", "images-objects", "S3KeySensor on snapshots"),
    Use("s3:ListObjectsV2", "images-bucket"),
    # Alerts (plugins/notifiers.py), only when SMARTCITY_ALERT_SNS_TOPIC_ARN is set.
    Use("sns:Publish", "sns-topic"),
)

CRAWLER: tuple[Use, ...] = (
    Use("s3:ListObjectsV2", "lake-bucket", "list the stream folders"),
    Use("s3:GetObject", "lake-data-objects", "read Parquet footers (schemas)"),
    Use("glue:GetDatabase", "database-and-tables"),
    Use("glue:GetTable", "database-and-tables"),
    Use("glue:GetTables", "database-and-tables"),
    Use("glue:CreateTable", "database-and-tables"),
    Use("glue:UpdateTable", "database-and-tables"),
    Use("glue:GetPartition", "database-and-tables"),
    Use("glue:GetPartitions", "database-and-tables"),
    Use("glue:BatchGetPartition", "database-and-tables"),
    Use("glue:CreatePartition", "database-and-tables"),
    Use("glue:BatchCreatePartition", "database-and-tables"),
    Use("glue:UpdatePartition", "database-and-tables"),
    Use("glue:BatchUpdatePartition", "database-and-tables"),
    Use("logs:CreateLogGroup", "crawler-logs"),
    Use("logs:CreateLogStream", "crawler-logs"),
    Use("logs:PutLogEvents", "crawler-logs"),
)

USES: dict[Principal, tuple[Use, ...]] = {"bootstrap": BOOTSTRAP, "pipeline": PIPELINE, "crawler": CRAWLER}

CRAWLER_TRUST_POLICY = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "glue.amazonaws.com"}, "Action": "sts:AssumeRole"}],
}

_SIDS = {
    "buckets": "Buckets",
    "bucket-objects": "BucketObjects",
    "images-bucket": "ImagesBucket",
    "images-objects": "ImagesObjects",
    "lake-bucket": "LakeBucket",
    "lake-objects": "LakeObjects",
    "lake-data-objects": "LakeDataObjects",
    "output-bucket": "AthenaResultsBucket",
    "output-objects": "AthenaResultsObjects",
    "database": "GlueDatabase",
    "catalog-databases": "GlueListDatabases",
    "database-and-tables": "GlueDatabaseAndTables",
    "crawler": "GlueCrawler",
    "crawler-role": "PassCrawlerRole",
    "workgroup": "AthenaWorkGroup",
    "data-catalog": "AthenaDataCatalog",
    "sns-topic": "AlertTopic",
    "crawler-logs": "CrawlerLogs",
    "all": "NoResourceLevelPermissions",
}


@dataclass(frozen=True)
class Account:
    """Where the resources live: the partition, region and account id ARNs are built from."""

    account_id: str
    region: str
    partition: str = "aws"


def role_arn(names: Names, account: Account) -> str:
    role = names.crawler_role
    return role if role.startswith("arn:") else f"arn:{account.partition}:iam::{account.account_id}:role/{role}"


def scope_arns(scope: str, names: Names, account: Account, sns_topic: str | None = None) -> list[str]:
    """The ARNs a scope stands for; empty when it does not apply (no SNS topic configured)."""
    p, region, acct = account.partition, account.region, account.account_id
    glue = f"arn:{p}:glue:{region}:{acct}"

    def bucket(name: str) -> str:
        return f"arn:{p}:s3:::{name}"

    catalog_db = [f"{glue}:catalog", f"{glue}:database/{names.glue_database}"]
    output_prefix = names.athena_output.removeprefix(f"s3://{names.athena_output_bucket}/")
    arns = {
        "none": [],
        "all": ["*"],
        "buckets": [bucket(b) for b in names.buckets],
        "bucket-objects": [bucket(b) + "/*" for b in names.buckets],
        "images-bucket": [bucket(names.images_bucket)],
        "images-objects": [bucket(names.images_bucket) + "/*"],
        "lake-bucket": [bucket(names.lake_bucket)],
        "lake-objects": [bucket(names.lake_bucket) + "/*"],
        "lake-data-objects": [bucket(names.lake_bucket) + "/data/*"],
        "output-bucket": [bucket(names.athena_output_bucket)],
        "output-objects": [bucket(names.athena_output_bucket) + "/" + output_prefix + "*"],
        "database": catalog_db,
        "catalog-databases": [f"{glue}:catalog", f"{glue}:database/*"],
        "database-and-tables": [*catalog_db, f"{glue}:table/{names.glue_database}/*"],
        "crawler": [f"{glue}:crawler/{crawler}" for crawler in names.crawlers],
        "crawler-role": [role_arn(names, account)],
        "workgroup": [f"arn:{p}:athena:{region}:{acct}:workgroup/{names.workgroup}"],
        "data-catalog": [f"arn:{p}:athena:{region}:{acct}:datacatalog/AwsDataCatalog"],
        "sns-topic": [sns_topic] if sns_topic else [],
        "crawler-logs": [f"arn:{p}:logs:{region}:{acct}:log-group:/aws-glue/crawlers:*"],
    }
    if scope not in arns:
        raise KeyError(f"unknown scope {scope!r}")
    return arns[scope]


def policy(principal: Principal, names: Names, account: Account, sns_topic: str | None = None) -> dict:
    """The policy document for ``principal``: one statement per group of resources, actions sorted."""
    actions_by_scope: dict[str, set[str]] = defaultdict(set)
    for use in USES[principal]:
        actions = (use.call,) if use.authorises_only else iam_actions(use.call)
        actions_by_scope[use.scope].update(actions)
    statements = []
    for scope, actions in actions_by_scope.items():
        resources = scope_arns(scope, names, account, sns_topic)
        if not actions or not resources:
            continue
        statement: dict = {
            "Sid": _SIDS[scope],
            "Effect": "Allow",
            "Action": sorted(actions),
            "Resource": resources if len(resources) > 1 else resources[0],
        }
        if scope == "crawler-role":
            statement["Condition"] = {"StringEquals": {"iam:PassedToService": "glue.amazonaws.com"}}
        statements.append(statement)
    return {"Version": "2012-10-17", "Statement": statements}


def render(document: dict) -> str:
    return json.dumps(document, indent=2) + "\n"
