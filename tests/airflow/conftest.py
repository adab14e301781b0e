"""Airflow tests: the session stack's running Airflow, driven over its REST API like a user's browser.

The stack's Airflow also parses ``tests/airflow/dags`` (a failing DAG, a DAG with a 5-second deadline, a
connections smoke DAG): their callbacks and connections are the production ones. The variable is set while
this file is collected, before any test starts the session stack.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from smartcity.airflow_client import AirflowClient
from smartcity.settings import Settings

TEST_DAGS = Path(__file__).parent / "dags"
os.environ.setdefault("SMARTCITY_AIRFLOW_EXTRA_DAGS_DIR", str(TEST_DAGS))
# Tests that import Airflow in-process get a throw-away home (not ~/airflow).
if "airflow" not in sys.modules and not os.environ.get("AIRFLOW_HOME"):
    os.environ["AIRFLOW_HOME"] = tempfile.mkdtemp(prefix="smartcity-airflow-home-")
    os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")

PIPELINE_DAGS = ("smartcity_journey", "smartcity_catalog")
TEST_DAG_IDS = ("smartcity_test_failure", "smartcity_test_deadline", "smartcity_test_connections")


@pytest.fixture(scope="session")
def airflow(stack: Settings) -> Iterator[AirflowClient]:
    """A logged-in client of the session stack's Airflow, once every DAG has been parsed."""
    if Path(stack.airflow_extra_dags_dir or "") != TEST_DAGS:
        pytest.fail("the session stack was started without tests/airflow/dags (SMARTCITY_AIRFLOW_EXTRA_DAGS_DIR)")
    with AirflowClient.from_settings(stack) as client:
        for dag_id in PIPELINE_DAGS + TEST_DAG_IDS:
            client.wait_for_dag(dag_id, timeout_s=120)
        yield client
