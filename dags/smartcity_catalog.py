"""
### smartcity_catalog: keep the lake catalogued and checked

For lakes fed by a long-running streaming job (not only by `smartcity_journey`): every six hours, and
whenever a journey updates the `smartcity_lake` asset, the Glue crawlers catalog new partitions of
`data/` and `quarantine/`, a sensor waits for them, and the Athena data-quality checks derived from the
record contracts run over the whole lake (required fields, ranges and enums, event-time order per vehicle,
camera snapshots present, catalog column types).

A failed run is reported by `smartcity alerts` (and SNS / e-mail where configured).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import DAG, AssetOrTimeSchedule, CronTriggerTimetable, chain

from plugins.lake_tasks import LakeChecks, check_services, crawl_lake, lake_asset, lake_names
from plugins.notifiers import PipelineAlertNotifier

DAG_ID = "smartcity_catalog"

names = lake_names()

with DAG(
    dag_id=DAG_ID,
    description="Glue crawlers + Athena data-quality checks over the whole lake",
    doc_md=__doc__,
    schedule=AssetOrTimeSchedule(
        timetable=CronTriggerTimetable("0 */6 * * *", timezone="UTC"), assets=[lake_asset(names)]
    ),
    start_date=datetime(2025, 1, 1),
    catchup=False,
    max_active_runs=1,
    tags=["smartcity", "catalog", "glue", "athena", "data-quality"],
    default_args={"owner": "smartcity", "retries": 1, "retry_delay": timedelta(minutes=1)},
    on_failure_callback=PipelineAlertNotifier(),
) as dag:
    checks = LakeChecks(names)
    chain(check_services(), crawl_lake(names, sensor=True), checks.group)
