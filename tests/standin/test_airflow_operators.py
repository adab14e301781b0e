"""The Airflow AWS provider's Glue and Athena operators and sensors, run by ``dag.test()`` against the
stand-in, pointed at it by the ``aws_default`` connection's ``service_config`` only.

Airflow runs in its own process (its configuration is read once per interpreter, so it must not leak into
other tests) with a throw-away ``AIRFLOW_HOME`` migrated once.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import duckdb
import pytest

from smartcity.settings import Settings
from standin.standin_helpers import SampleLake, StandinProcess

pytestmark = pytest.mark.integration

DAG_FILE = Path(__file__).with_name("airflow_compat_dag.py")


@pytest.fixture(scope="session")
def airflow_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    home = tmp_path_factory.mktemp("airflow")
    env = {
        key: value
        for key, value in os.environ.items()
        # No AWS variables: the connection alone must point the operators at the stand-in.
        if not key.startswith(("AWS_", "AIRFLOW"))
    }
    env.update(
        AIRFLOW_HOME=str(home),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__CORE__DAGS_FOLDER=str(DAG_FILE.parent),
        AIRFLOW__CORE__UNIT_TEST_MODE="False",
        AIRFLOW__LOGGING__LOGGING_LEVEL="WARNING",
    )
    airflow = Path(sys.executable).parent / "airflow"
    done = subprocess.run([str(airflow), "db", "migrate"], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    return env


def test_glue_and_athena_operators_run_unchanged(
    airflow_env: dict[str, str], standin: StandinProcess, stack: Settings, test_lake: SampleLake, tmp_path: Path
) -> None:
    database = f"airflow_{uuid.uuid4().hex[:6]}"
    result_file = tmp_path / "results.json"
    endpoints = {service: {"endpoint_url": standin.url} for service in ("glue", "athena", "sts")}
    endpoints["s3"] = {"endpoint_url": stack.s3_endpoint}
    aws_default = {
        "conn_type": "aws",
        "login": stack.access_key,
        "password": stack.secret_key,
        "extra": {"region_name": stack.aws_region, "service_config": endpoints},
    }
    athena_default = {  # AthenaSQLHook takes credentials and schema from this one, the rest from aws_default
        "conn_type": "aws",
        "login": stack.access_key,
        "password": stack.secret_key,
        "schema": database,
        "extra": {"s3_staging_dir": stack.athena_output, "work_group": "primary", "endpoint_url": standin.url},
    }
    env = {
        **airflow_env,
        "AIRFLOW_CONN_AWS_DEFAULT": json.dumps(aws_default),
        "AIRFLOW_CONN_ATHENA_DEFAULT": json.dumps(athena_default),
        "STANDIN_TEST_DATABASE": database,
        "STANDIN_TEST_DATA_PATH": f"{test_lake.data_uri}gps_data/",
        "STANDIN_TEST_RESULT_FILE": str(result_file),
        "SMARTCITY_ATHENA_OUTPUT": stack.athena_output,
    }
    done = subprocess.run([sys.executable, str(DAG_FILE)], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and "DAG RUN STATE: success" in done.stdout, done.stdout[-6000:] + done.stderr[-6000:]

    # What the operators did, seen through the API.
    glue = standin.client("glue")
    crawler = glue.get_crawler(Name=f"{database}_crawler")["Crawler"]
    assert crawler["Description"] == "updated" and crawler["LastCrawl"]["Status"] == "SUCCEEDED"
    arn = f"arn:aws:glue:{stack.aws_region}:000000000000:crawler/{database}_crawler"
    assert glue.get_tags(ResourceArn=arn)["Tags"] == {"team": "platform"}  # one tag changed, one removed
    assert glue.get_crawler(Name=f"{database}_legacy_crawler")["Crawler"]["LastCrawl"]["Status"] == "SUCCEEDED"
    assert {t["Name"] for t in glue.get_tables(DatabaseName=database)["TableList"]} == {"gps_data"}

    # What the tasks read back matches the files.
    pattern = test_lake.local / "data" / "gps_data" / "date=*" / "*.parquet"
    con = duckdb.connect()
    total = con.execute(f"select count(*) from read_parquet('{pattern}')").fetchone()[0]
    per_vehicle = con.execute(
        f"select vehicle_id, count(*) from read_parquet('{pattern}') group by 1 order by 1"
    ).fetchall()
    results = json.loads(result_file.read_text())
    assert results["athena_hook_rows"] == [["_col0"], [str(total)]]
    assert results["sql_hook_records"] == [list(row) for row in per_vehicle]
