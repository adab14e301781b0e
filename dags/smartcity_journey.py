"""
### smartcity_journey: one journey from Antipolo to Baguio, end to end

Trigger it from the UI (**Trigger** shows a form for the parameters below) or with `smartcity demo`.

1. **Preflight**: Kafka, S3, Glue and Athena answer (a failure names the service); buckets and topics exist.
2. **Journey**: the fleet drives into Kafka (`python -m producers`) while the streaming job
   (`spark_jobs/streaming_job.py`, submitted with `SparkSubmitOperator`) writes the validated lake; the job
   stops by itself once it has consumed everything the producer's run report says was sent.
3. **Catalog**: two Glue crawlers (`data/` and `quarantine/`) are created or updated from their config, then run.
4. **Checks**: Athena queries derived from the record contracts: rows per stream, required fields,
   ranges and enums, event-time order per vehicle, every camera snapshot in S3, the catalog's column types.
5. **Reconciliation**: lake rows per stream == good records the broker acknowledged, quarantine rows per
   reason == injected bad records. A mismatch fails the run and says which stream and by how much.
   Success updates the `smartcity_lake` asset, which triggers `smartcity_catalog`.

Alerts: a failed run, or a run still going after 30 minutes, is reported by `smartcity alerts`
(and SNS / e-mail where configured). Connections: `aws_default` (S3, Glue, Athena), `spark_default`.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.providers.amazon.aws.operators.s3 import S3CreateBucketOperator
from airflow.sdk import DAG, AsyncCallback, DeadlineAlert, DeadlineReference, Param, chain

from plugins.journey_tasks import (
    create_topics,
    load_run_report,
    plan_journey,
    produce_journey,
    reconcile_with_report,
    stream_to_lake,
)
from plugins.lake_tasks import LakeChecks, check_services, crawl_lake, lake_asset, lake_names
from plugins.notifiers import PipelineAlertNotifier

DAG_ID = "smartcity_journey"
DEADLINE = timedelta(minutes=30)

names = lake_names()

with DAG(
    dag_id=DAG_ID,
    description="Simulated journey -> Kafka -> Spark -> S3 lake -> Glue -> Athena checks -> reconciliation",
    doc_md=__doc__,
    schedule=None,
    start_date=datetime(2025, 1, 1),
    catchup=False,
    max_active_runs=1,
    tags=["smartcity", "journey", "kafka", "spark", "glue", "athena"],
    default_args={"owner": "smartcity", "retries": 1, "retry_delay": timedelta(seconds=20)},
    params={
        "vehicles": Param(5, type="integer", minimum=1, maximum=500, title="Vehicles", description="fleet size"),
        "speed_up": Param(
            60,
            type="number",
            exclusiveMinimum=0,
            maximum=3600,
            title="Speed-up",
            description="journey seconds per wall-clock second (60: the 3.5 h journey in about 4 minutes)",
        ),
        "seed": Param(42, type="integer", minimum=0, title="Seed", description="same seed, same journey"),
        "duration": Param(
            180,
            type="integer",
            minimum=5,
            maximum=3600,
            title="Duration (s)",
            description="stop producing after this many wall-clock seconds (or at arrival in Baguio)",
        ),
        "bad_record_rate": Param(
            0.01,
            type="number",
            minimum=0,
            maximum=0.5,
            title="Bad-record rate",
            description="share of extra malformed, invalid, duplicate and late records the pipeline must catch",
        ),
    },
    on_failure_callback=PipelineAlertNotifier(),
    deadline=DeadlineAlert(
        reference=DeadlineReference.DAGRUN_QUEUED_AT,
        interval=DEADLINE,
        callback=AsyncCallback(
            PipelineAlertNotifier,
            kwargs={"kind": "deadline_missed", "message": f"journey still running {DEADLINE} after it was queued"},
        ),
    ),
) as dag:
    # --- preflight ------------------------------------------------------------------------------------------
    services = check_services()
    create_buckets = S3CreateBucketOperator.partial(
        task_id="create_bucket", map_index_template="{{ task.bucket_name }}"
    ).expand(bucket_name=[names.lake_bucket, names.images_bucket, names.athena_results_bucket])
    topics = create_topics()

    # --- the journey: producer and streaming job side by side ---------------------------------------------
    plan = plan_journey()
    produce = produce_journey(plan)
    stream = stream_to_lake(plan)
    report = load_run_report(plan)

    # --- catalog, checks, reconciliation ------------------------------------------------------------------------
    crawl = crawl_lake(names, sensor=False)
    checks = LakeChecks(names, report)
    reconciled = reconcile_with_report.override(outlets=[lake_asset(names)])(
        report, checks.row_counts.output, checks.quarantine_counts.output
    )

    chain(services, [create_buckets, topics], plan, [produce, stream], crawl, checks.group, reconciled)
    produce >> report
