"""A DAG that drives the stand-in with the Airflow AWS provider's own operators and sensors, unchanged.

Run by ``test_airflow_operators.py`` as ``python airflow_compat_dag.py`` (which calls ``dag.test()``) with
``aws_default`` / ``athena_default`` pointing at the stand-in through connection ``service_config`` only.
What the tasks read back is written to ``STANDIN_TEST_RESULT_FILE`` for the test to check.
"""

from __future__ import annotations

import json
import os
import sys
from datetime import datetime

from airflow.providers.amazon.aws.hooks.athena import AthenaHook
from airflow.providers.amazon.aws.hooks.athena_sql import AthenaSQLHook
from airflow.providers.amazon.aws.operators.athena import AthenaOperator
from airflow.providers.amazon.aws.operators.glue_crawler import (
    GlueCrawlerCreateOperator,
    GlueCrawlerOperator,
    GlueCrawlerRunOperator,
    GlueCrawlerUpdateOperator,
)
from airflow.providers.amazon.aws.sensors.athena import AthenaSensor
from airflow.providers.amazon.aws.sensors.glue_catalog_partition import GlueCatalogPartitionSensor
from airflow.providers.amazon.aws.sensors.glue_crawler import GlueCrawlerSensor
from airflow.sdk import DAG, chain, task

DAG_ID = "standin_compat"
DATABASE = os.environ["STANDIN_TEST_DATABASE"]
DATA_PATH = os.environ["STANDIN_TEST_DATA_PATH"]
OUTPUT = os.environ["SMARTCITY_ATHENA_OUTPUT"]
ROLE = "arn:aws:iam::000000000000:role/service-role/AWSGlueServiceRole-smartcity"
EXCLUSIONS = ["_spark_metadata", "**/_spark_metadata", "**spark_metadata**"]

CRAWLER = {
    "Name": f"{DATABASE}_crawler",
    "Role": ROLE,
    "DatabaseName": DATABASE,
    "Targets": {"S3Targets": [{"Path": DATA_PATH, "Exclusions": EXCLUSIONS}]},
    "Tags": {"team": "data", "env": "local"},
}
LEGACY_CRAWLER = {**CRAWLER, "Name": f"{DATABASE}_legacy_crawler", "Tags": {"team": "legacy"}}


with DAG(dag_id=DAG_ID, schedule=None, start_date=datetime(2024, 1, 1), catchup=False, tags=["test"]) as dag:
    create_crawler = GlueCrawlerCreateOperator(task_id="create_crawler", config=CRAWLER)
    # Different tags and description: exercises STS GetCallerIdentity, GetTags/TagResource/UntagResource.
    update_crawler = GlueCrawlerUpdateOperator(
        task_id="update_crawler", config={**CRAWLER, "Description": "updated", "Tags": {"team": "platform"}}
    )
    crawl_s3 = GlueCrawlerRunOperator(task_id="crawl_s3", crawler_name=CRAWLER["Name"], poll_interval=1)
    wait_for_crawl = GlueCrawlerSensor(
        task_id="wait_for_crawl", crawler_name=CRAWLER["Name"], poke_interval=1, timeout=60
    )
    legacy_crawl = GlueCrawlerOperator(task_id="legacy_crawl", config=LEGACY_CRAWLER, poll_interval=1)
    wait_for_partition = GlueCatalogPartitionSensor(
        task_id="wait_for_partition",
        database_name=DATABASE,
        table_name="gps_data",
        expression="date='2024-01-02'",
        poke_interval=1,
        timeout=60,
    )
    count_gps = AthenaOperator(
        task_id="count_gps",
        query="SELECT count(*) FROM gps_data",
        database=DATABASE,
        output_location=OUTPUT,
        sleep_time=1,
    )
    await_count = AthenaSensor(
        task_id="await_count", query_execution_id=count_gps.output, sleep_time=1, poke_interval=1, timeout=60
    )

    @task
    def read_back(query_execution_id: str) -> None:
        """Read the results the way a DAG would: AthenaHook's results API and AthenaSQLHook (pyathena)."""
        rows = AthenaHook().get_query_results(query_execution_id)["ResultSet"]["Rows"]
        records = AthenaSQLHook().get_records(
            "SELECT vehicle_id, count(*) FROM gps_data GROUP BY vehicle_id ORDER BY vehicle_id"
        )
        with open(os.environ["STANDIN_TEST_RESULT_FILE"], "w") as out:
            json.dump(
                {
                    "athena_hook_rows": [[cell.get("VarCharValue") for cell in row["Data"]] for row in rows],
                    "sql_hook_records": [list(record) for record in records],
                },
                out,
            )

    chain(
        create_crawler,
        update_crawler,
        crawl_s3,
        wait_for_crawl,
        legacy_crawl,
        wait_for_partition,
        count_gps,
        await_count,
        read_back(count_gps.output),
    )


if __name__ == "__main__":
    run = dag.test()
    print(f"DAG RUN STATE: {run.state}")
    sys.exit(0 if run.state == "success" else 1)
