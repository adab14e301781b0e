"""The generated IAM policies cover every call the code makes, and no more than the project's resources.

Bootstrap/teardown: a full lifecycle is run against the stack with every AWS call recorded, and each call is
checked against the generated policy (the action by the IAM naming rules, the resource from the call's own
parameters). The pipeline: every AWS provider class and boto3 operation used in dags/, plugins/, producers/
and spark_jobs/ must be covered by the pipeline policy.
"""

from __future__ import annotations

import ast
import json
import re
from fnmatch import fnmatchcase
from pathlib import Path

import botocore.session
import pytest
from botocore import xform_name

from aws.aws_helpers import Call, Recorder
from smartcity.aws import iam
from smartcity.aws.plan import apply, plan_bootstrap, plan_teardown
from smartcity.aws.resources import names_from
from smartcity.settings import PROJECT_ROOT, Settings

PIPELINE_CODE = ("dags", "plugins", "producers", "spark_jobs")
# IAM names of the S3 operations whose action is named differently (AWS "Actions defined by Amazon S3").
S3_ACTION = {"HeadBucket": "ListBucket", "ListObjectsV2": "ListBucket", "DeleteObjects": "DeleteObject"}


def allows(policy: dict, action: str, resource: str) -> bool:
    for statement in policy["Statement"]:
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        if (
            statement["Effect"] == "Allow"
            and any(fnmatchcase(action.lower(), a.lower()) for a in actions)
            and any(fnmatchcase(resource, r) for r in resources)
        ):
            return True
    return False


def authorisations(call: Call, account: str, region: str) -> list[tuple[str, str]]:
    """(IAM action, resource ARN) pairs a call needs, worked out from its own parameters."""
    p = call.params
    glue = f"arn:aws:glue:{region}:{account}"
    if call.service == "sts":
        return []  # GetCallerIdentity needs no permission
    if call.service == "s3":
        action = "s3:" + S3_ACTION.get(call.operation, call.operation)
        if call.operation == "DeleteObjects":
            return [(action, f"arn:aws:s3:::{p['Bucket']}/{o['Key']}") for o in p["Delete"]["Objects"]]
        return [(action, f"arn:aws:s3:::{p['Bucket']}")]
    action = f"{call.service}:{call.operation}"
    if call.service == "athena":
        arn = p.get("ResourceARN") or f"arn:aws:athena:{region}:{account}:workgroup/{p.get('WorkGroup') or p['Name']}"
        return [(action, arn)]
    if "ResourceArn" in p:
        return [(action, p["ResourceArn"])]
    if "Database" in call.operation:
        database = p.get("Name") or p["DatabaseInput"]["Name"]
        needed = [(action, f"{glue}:catalog"), (action, f"{glue}:database/{database}")]
        if call.operation == "DeleteDatabase":
            needed.append((action, f"{glue}:table/{database}/vehicle_data"))
        return needed
    needed = [(action, f"{glue}:crawler/{p['Name']}")]
    if call.operation in ("CreateCrawler", "UpdateCrawler"):
        needed.append(("iam:PassRole", f"arn:aws:iam::{account}:role/{p['Role']}"))
    if call.operation == "CreateCrawler" and p.get("Tags"):
        needed.append(("glue:TagResource", needed[0][1]))
    return needed


@pytest.mark.integration
def test_bootstrap_policy_allows_every_call_of_a_bootstrap_and_teardown_lifecycle(aws_settings: Settings) -> None:
    recorder = Recorder()
    clients = recorder.clients(aws_settings)
    names = names_from(aws_settings)
    outside = {service: aws_settings.boto3_client(service) for service in ("s3", "glue", "athena")}
    try:
        apply(plan_bootstrap(clients, names))  # creates
        outside["glue"].update_crawler(Name=names.crawlers[0], Description="changed by hand")
        outside["athena"].update_work_group(
            WorkGroup=names.workgroup, ConfigurationUpdates={"EnforceWorkGroupConfiguration": False}
        )
        apply(plan_bootstrap(clients, names))  # updates the drifted crawler and work group
        outside["s3"].put_object(Bucket=names.lake_bucket, Key="data/x.parquet", Body=b"x")
        apply(plan_teardown(clients, names, delete_data=False))  # keeps the lake (it holds data)
        apply(plan_teardown(clients, names, delete_data=True), delete_data=True)
    finally:
        apply(plan_teardown(Recorder().clients(aws_settings), names, delete_data=True), delete_data=True)

    calls = recorder.take()
    identity = aws_settings.boto3_client("sts").get_caller_identity()
    account, region = identity["Account"], aws_settings.aws_region
    policy = iam.policy("bootstrap", names, iam.Account(account, region))
    denied = [
        f"{call.name} needs {action} on {resource}"
        for call in calls
        for action, resource in authorisations(call, account, region)
        if not allows(policy, action, resource)
    ]
    assert denied == []
    # Every call the policy generator was told about was really made (so no permission is there for nothing).
    declared = {use.call for use in iam.BOOTSTRAP if not use.authorises_only}
    assert declared == {call.name for call in calls}


def _python_files(folders: tuple[str, ...]) -> list[Path]:
    return [path for folder in folders for path in sorted((PROJECT_ROOT / folder).rglob("*.py"))]


def _provider_classes(files: list[Path]) -> set[str]:
    """Names imported from the Amazon provider (operators, sensors, hooks, notifiers)."""
    found = set()
    for path in files:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("airflow.providers.amazon"):
                found |= {alias.name for alias in node.names}
    return found


def _boto3_operations(files: list[Path]) -> set[str]:
    """``service:Operation`` for every method call named like an S3, Glue or Athena operation."""
    session = botocore.session.get_session()
    by_method = {}
    for service in ("s3", "glue", "athena"):
        for operation in session.get_service_model(service).operation_names:
            by_method[xform_name(operation)] = f"{service}:{operation}"
    found = set()
    for path in files:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in by_method:
                found.add(by_method[node.func.attr])
    return found


def _pipeline_actions() -> set[str]:
    topic = "arn:aws:sns:us-east-1:123456789012:alerts"
    document = iam.policy("pipeline", names_from(Settings()), iam.Account("123456789012", "us-east-1"), topic)
    return {action for statement in document["Statement"] for action in statement["Action"]}


def test_pipeline_policy_covers_every_provider_class_the_dags_and_plugins_use() -> None:
    used = _provider_classes(_python_files(PIPELINE_CODE))
    assert used, "no Amazon provider class found in dags/ or plugins/: the scan is broken"
    unknown = used - set(iam.OPERATOR_CALLS)
    assert not unknown, f"add the AWS calls of {sorted(unknown)} to smartcity.aws.iam.OPERATOR_CALLS"
    allowed = _pipeline_actions()
    missing = {
        f"{cls}: {action}"
        for cls in used
        for call in iam.OPERATOR_CALLS[cls]
        for action in iam.iam_actions(call)
        if action not in allowed
    }
    assert missing == set()


def test_pipeline_policy_covers_every_boto3_call_in_the_pipeline_code() -> None:
    used = _boto3_operations(_python_files(PIPELINE_CODE))
    assert "s3:PutObject" in used, "the producer's uploads were not found: the scan is broken"
    allowed = _pipeline_actions()
    missing = {f"{call} -> {action}" for call in used for action in iam.iam_actions(call) if action not in allowed}
    assert missing == set()


@pytest.mark.parametrize("principal", iam.PRINCIPALS)
def test_policies_name_actions_and_resources_not_wildcards(principal: iam.Principal) -> None:
    names = names_from(Settings())
    document = iam.policy(principal, names, iam.Account("123456789012", "eu-west-1"))
    sids = [statement["Sid"] for statement in document["Statement"]]
    assert len(sids) == len(set(sids))
    for statement in document["Statement"]:
        assert all(not action.endswith("*") for action in statement["Action"])
        resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        if "*" in resources:
            # Only actions AWS offers no resource-level permission for may use "*".
            assert set(statement["Action"]) <= {
                "glue:GetCrawlerMetrics",
                "s3:ListAllMyBuckets",
                "athena:ListWorkGroups",
            }
        if "iam:PassRole" in statement["Action"]:
            assert statement["Condition"] == {"StringEquals": {"iam:PassedToService": "glue.amazonaws.com"}}


def test_docs_show_the_policies_the_generator_makes() -> None:
    """docs/aws.md embeds the generated policies (defaults, example account): regenerate them when this fails."""
    text = (PROJECT_ROOT / "docs" / "aws.md").read_text()
    blocks = [json.loads(block) for block in re.findall(r"```json\n(.*?)```", text, flags=re.S)]
    defaults = Settings.model_construct()
    names = names_from(defaults)
    account = iam.Account("123456789012", "us-east-1")
    for principal in iam.PRINCIPALS:
        assert iam.policy(principal, names, account) in blocks, f"the {principal} policy in docs/aws.md is stale"
    assert iam.CRAWLER_TRUST_POLICY in blocks
