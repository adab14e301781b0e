"""The Airflow connection and pipeline settings that point the DAGs at the resources bootstrap made.

No secret is ever printed: the ``aws_default`` connection carries no keys, so the AWS provider falls back
to boto3's default chain (the ``AWS_*`` variables of the Airflow processes, or the instance/task role).
Endpoints appear only when the settings name custom ones (the local stack); on AWS there are none.
"""

from __future__ import annotations

import json
import shlex

from smartcity.aws.resources import Names
from smartcity.settings import Settings


def aws_connection(settings: Settings) -> dict:
    """``aws_default`` as Airflow's JSON connection form."""
    extra: dict = {"region_name": settings.aws_region}
    endpoints = {
        "s3": settings.aws_endpoint_url_s3,
        "glue": settings.aws_endpoint_url_glue,
        "athena": settings.aws_endpoint_url_athena,
        # The stand-in answers STS GetCallerIdentity (the Glue hook calls it to build tag ARNs).
        "sts": settings.aws_endpoint_url_glue,
    }
    service_config = {service: {"endpoint_url": url} for service, url in endpoints.items() if url}
    if service_config:
        extra["service_config"] = service_config
        extra["config_kwargs"] = {"s3": {"addressing_style": "path"}}
    return {"conn_type": "aws", "extra": extra}


def airflow_settings(settings: Settings, names: Names) -> dict[str, str]:
    """Environment variables for the Airflow components (connections and the pipeline's names)."""
    return {
        "AIRFLOW_CONN_AWS_DEFAULT": json.dumps(aws_connection(settings), separators=(",", ":")),
        "SMARTCITY_TARGET": settings.target,
        "AWS_DEFAULT_REGION": settings.aws_region,
        "SMARTCITY_IMAGES_BUCKET": names.images_bucket,
        "SMARTCITY_LAKE_BUCKET": names.lake_bucket,
        "SMARTCITY_ATHENA_OUTPUT": names.athena_output,
        "SMARTCITY_GLUE_DATABASE": names.glue_database,
        "SMARTCITY_GLUE_CRAWLER_ROLE": names.crawler_role,
        "SMARTCITY_ATHENA_WORKGROUP": names.workgroup,
    }


def export_lines(env: dict[str, str]) -> str:
    return "".join(f"export {key}={shlex.quote(value)}\n" for key, value in env.items())
