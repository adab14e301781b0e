"""DAG tests parse the DAG files in-process: give Airflow a private, throw-away home first.

Airflow reads AIRFLOW_HOME when it is first imported and would otherwise create ~/airflow; nothing here
needs a database or a running Airflow (the running one is tested in tests/airflow).
"""

from __future__ import annotations

import os
import tempfile

if "airflow" not in os.sys.modules and not os.environ.get("AIRFLOW_HOME"):
    os.environ["AIRFLOW_HOME"] = tempfile.mkdtemp(prefix="smartcity-airflow-home-")
    os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
