"""``smartcity aws bootstrap``/``teardown`` against the session stack's real S3 and a real stand-in."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from aws.aws_helpers import Recorder, snapshot
from smartcity.aws.cli import app
from smartcity.aws.plan import Change, apply, plan_bootstrap, plan_teardown
from smartcity.aws.resources import MANAGED_BY_KEY, names_from
from smartcity.settings import Settings

pytestmark = pytest.mark.integration

# The crawler exclusions the issue asks for (Spark's commit log must never become a table).
SPARK_METADATA_EXCLUSIONS = {"_spark_metadata", "**/_spark_metadata", "**spark_metadata**"}
READS = ("Get", "Head", "List")


def _teardown_everything(settings: Settings) -> None:
    clients = Recorder().clients(settings)
    apply(plan_teardown(clients, names_from(settings), delete_data=True), delete_data=True)


def test_bootstrap_creates_everything_and_a_second_run_changes_nothing(aws_settings: Settings) -> None:
    recorder = Recorder()
    clients = recorder.clients(aws_settings)
    names = names_from(aws_settings)
    before = snapshot(aws_settings)
    try:
        first = plan_bootstrap(clients, names)
        assert {step.change for step in first} == {Change.CREATE}
        apply(first)
        recorder.take()

        second = plan_bootstrap(clients, names)
        apply(second)
        assert [step.change for step in second] == [Change.KEEP] * len(first)
        assert [c.name for c in recorder.take() if not c.operation.startswith(READS)] == []

        after = snapshot(aws_settings)
        output_bucket = aws_settings.athena_output.removeprefix("s3://").split("/")[0]
        assert after.buckets - before.buckets == {aws_settings.images_bucket, aws_settings.lake_bucket, output_bucket}
        assert after.databases - before.databases == {aws_settings.glue_database}
        assert after.workgroups - before.workgroups == {names.workgroup}
        new_crawlers = after.crawlers - before.crawlers
        assert len(new_crawlers) == 2  # data/ (one table per stream) and quarantine/

        glue, athena = aws_settings.boto3_client("glue"), aws_settings.boto3_client("athena")
        for name in new_crawlers:
            crawler = glue.get_crawler(Name=name)["Crawler"]
            assert crawler["DatabaseName"] == aws_settings.glue_database
            assert crawler["Role"] == aws_settings.glue_crawler_role
            for target in crawler["Targets"]["S3Targets"]:
                assert target["Path"].startswith(f"s3://{aws_settings.lake_bucket}/")
                assert set(target["Exclusions"]) >= SPARK_METADATA_EXCLUSIONS
        configuration = athena.get_work_group(WorkGroup=names.workgroup)["WorkGroup"]["Configuration"]
        assert configuration["ResultConfiguration"]["OutputLocation"].rstrip("/") == aws_settings.athena_output.rstrip(
            "/"
        )
    finally:
        _teardown_everything(aws_settings)


def test_bootstrap_brings_drifted_crawler_and_work_group_back(aws_settings: Settings) -> None:
    clients = Recorder().clients(aws_settings)
    names = names_from(aws_settings)
    apply(plan_bootstrap(clients, names))
    try:
        glue, athena = aws_settings.boto3_client("glue"), aws_settings.boto3_client("athena")
        crawler = names.crawlers[0]
        glue.update_crawler(
            Name=crawler, Targets={"S3Targets": [{"Path": f"s3://{aws_settings.lake_bucket}/data/", "Exclusions": []}]}
        )
        athena.update_work_group(
            WorkGroup=names.workgroup,
            ConfigurationUpdates={"ResultConfigurationUpdates": {"OutputLocation": names.athena_output + "other/"}},
        )

        drifted = plan_bootstrap(clients, names)
        assert {(s.name, s.change) for s in drifted if s.change is not Change.KEEP} == {
            (crawler, Change.UPDATE),
            (names.workgroup, Change.UPDATE),
        }
        apply(drifted)
        assert {step.change for step in plan_bootstrap(clients, names)} == {Change.KEEP}
        exclusions = glue.get_crawler(Name=crawler)["Crawler"]["Targets"]["S3Targets"][0]["Exclusions"]
        assert set(exclusions) >= SPARK_METADATA_EXCLUSIONS
    finally:
        _teardown_everything(aws_settings)


def test_teardown_removes_what_bootstrap_made_and_nothing_else(aws_settings: Settings) -> None:
    s3, glue = aws_settings.boto3_client("s3"), aws_settings.boto3_client("glue")
    names = names_from(aws_settings)
    clients = Recorder().clients(aws_settings)
    # The images bucket already exists (the user made it, with data): bootstrap uses it, teardown keeps it.
    s3.create_bucket(Bucket=aws_settings.images_bucket)
    s3.put_object(Bucket=aws_settings.images_bucket, Key="mine.jpg", Body=b"jpeg")
    other_database = aws_settings.glue_database + "_other"
    glue.create_database(DatabaseInput={"Name": other_database})
    before = snapshot(aws_settings)
    try:
        plan = plan_bootstrap(clients, names)
        assert [s.change for s in plan if s.name == aws_settings.images_bucket] == [Change.KEEP]
        apply(plan)
        s3.put_object(Bucket=aws_settings.lake_bucket, Key="data/vehicle_data/date=2024-01-01/x.parquet", Body=b"x")

        kept = plan_teardown(clients, names, delete_data=False)
        apply(kept)
        assert {(s.name, s.change) for s in kept if s.change is not Change.DELETE} == {
            (aws_settings.images_bucket, Change.KEEP),
            (aws_settings.lake_bucket, Change.SKIP),
        }
        assert snapshot(aws_settings).buckets - before.buckets == {aws_settings.lake_bucket}

        apply(plan_teardown(clients, names, delete_data=True), delete_data=True)
        assert snapshot(aws_settings) == before
        assert s3.get_object(Bucket=aws_settings.images_bucket, Key="mine.jpg")["Body"].read() == b"jpeg"
    finally:
        _teardown_everything(aws_settings)
        s3.delete_object(Bucket=aws_settings.images_bucket, Key="mine.jpg")
        s3.delete_bucket(Bucket=aws_settings.images_bucket)
        glue.delete_database(Name=other_database)


def test_cli_dry_run_plans_without_changing_then_bootstrap_and_teardown(aws_settings: Settings) -> None:
    runner = CliRunner()
    before = snapshot(aws_settings)
    try:
        dry = runner.invoke(app, ["bootstrap", "--dry-run"])
        assert dry.exit_code == 0, dry.output
        assert dry.output.count("would create") == 7  # 3 buckets, database, 2 crawlers, work group
        assert snapshot(aws_settings) == before

        done = runner.invoke(app, ["bootstrap"])
        assert done.exit_code == 0, done.output
        assert "AIRFLOW_CONN_AWS_DEFAULT" in done.output
        assert aws_settings.secret_key not in done.output
        tags = aws_settings.boto3_client("s3").get_bucket_tagging(Bucket=aws_settings.lake_bucket)["TagSet"]
        assert MANAGED_BY_KEY in {tag["Key"] for tag in tags}

        s3 = aws_settings.boto3_client("s3")
        s3.put_object(Bucket=aws_settings.lake_bucket, Key="reports/run.json", Body=b"{}")
        refused = runner.invoke(app, ["teardown", "--yes"])
        assert refused.exit_code == 1
        assert "--delete-data" in refused.output and "Traceback" not in refused.output
        assert s3.get_object(Bucket=aws_settings.lake_bucket, Key="reports/run.json")["Body"].read() == b"{}"

        gone = runner.invoke(app, ["teardown", "--yes", "--delete-data"])
        assert gone.exit_code == 0, gone.output
        assert snapshot(aws_settings) == before
    finally:
        _teardown_everything(aws_settings)
