"""Apache Airflow 3: api-server, scheduler, dag-processor and triggerer as four supervised processes.

Each Airflow component is its own supervisord program (own log, own readiness probe), the way a
deployment runs them, rather than one ``airflow standalone`` process hiding four. They share one
``AIRFLOW_HOME`` under the data directory whose ``airflow.cfg`` this module writes (0600: it holds the
generated Fernet and JWT keys), so ``eval "$(smartcity stack env)"; airflow dags list`` in a shell talks to
the very same installation.

Choices for a 2-core laptop:

* LocalExecutor with ``parallelism`` 4: the journey runs the producer and the Spark job side by side,
  plus a sensor or a check; more slots would only make the two cores thrash.
* SQLite in WAL mode with a busy timeout. In Airflow 3 only the four components touch the database (task
  processes talk to the api-server's execution API), so a single file is enough and needs no server;
  WAL lets readers (the UI) proceed while the scheduler writes.
* One api-server worker; the scheduler's and triggerer's log servers are off (``--skip-serve-logs``):
  every log is a local file the api-server reads directly, so no extra ports are opened.
* DAGs from the repository's ``dags/``; the ``plugins`` package they import is installed with the project
  (Airflow's plugins_folder, for AirflowPlugin classes, is ``$AIRFLOW_HOME/plugins``; see airflow_cfg).
* SimpleAuthManager with one ``admin`` user whose password is generated with the stack's secrets and
  preseeded in the passwords file (0600), so no password is ever printed to a log.

Connections come from the environment (``AIRFLOW_CONN_*``, see :func:`airflow_connections`): pointing them
at real AWS and a real Spark cluster is the only change a cloud deployment needs.
"""

from __future__ import annotations

import configparser
import contextlib
import io
import json
import os
import secrets
import sqlite3
import subprocess
import sys
import urllib.error
import urllib.request
from base64 import urlsafe_b64encode
from importlib.metadata import version
from pathlib import Path

from smartcity.settings import LOOPBACK, PROJECT_ROOT, Settings
from smartcity.stack.errors import StackError
from smartcity.stack.secrets import StackSecrets, write_private
from smartcity.stack.services.base import Port, Service, StackContext
from smartcity.stack.spark_conf import spark_master_url

ADMIN_USER = "admin"
PARALLELISM = 4  # task slots; see the module docstring
DAGS_FOLDER = PROJECT_ROOT / "dags"
HEALTH_PATH = "/api/v2/monitor/health"
CONNECTIONS_FILE = "connections.json"  # AIRFLOW_CONN_* values, 0600


# --- paths and URLs ------------------------------------------------------------------------------------
def airflow_home(settings: Settings) -> Path:
    return settings.data_dir / "airflow"


def api_url(settings: Settings) -> str:
    return f"http://{LOOPBACK}:{settings.airflow_port}"


def _venv_bin() -> Path:
    # The interpreter running the stack is the project's venv; its bin/ holds airflow and spark-submit.
    return Path(sys.executable).parent


def airflow_binary() -> str:
    found = _venv_bin() / "airflow"
    if not found.exists():
        raise StackError("The `airflow` command is missing from the virtualenv: run `uv sync`.")
    return str(found)


# --- connections (the only thing that differs between the laptop and the cloud) -------------------------
def airflow_connections(settings: Settings, stack_secrets: StackSecrets) -> dict[str, str]:
    """``AIRFLOW_CONN_*`` variables (JSON form) pointing the AWS and Spark providers at the local stack.

    On AWS, ``aws_default`` is just ``{"conn_type": "aws", "extra": {"region_name": ...}}`` (credentials
    from the instance/task role, endpoints from botocore) and ``spark_default`` names the cluster's master.
    """
    standin = f"http://{LOOPBACK}:{settings.standin_port}"
    aws = {
        "conn_type": "aws",
        "login": stack_secrets.s3_access_key,
        "password": stack_secrets.s3_secret_key,
        "extra": {
            "region_name": settings.aws_region,
            # Per-service endpoints: S3 is SeaweedFS, Glue/Athena/STS are the stand-in.
            "service_config": {
                "s3": {"endpoint_url": f"http://{LOOPBACK}:{settings.s3_port}"},
                "glue": {"endpoint_url": standin},
                "athena": {"endpoint_url": standin},
                "sts": {"endpoint_url": standin},
            },
            "config_kwargs": {"s3": {"addressing_style": "path"}, "retries": {"mode": "standard"}},
        },
    }
    spark = {"conn_type": "spark", "host": spark_master_url(settings), "extra": {"deploy-mode": "client"}}
    return {
        "AIRFLOW_CONN_AWS_DEFAULT": json.dumps(aws, separators=(",", ":")),
        "AIRFLOW_CONN_SPARK_DEFAULT": json.dumps(spark, separators=(",", ":")),
    }


def airflow_stack_env(settings: Settings, stack_secrets: StackSecrets) -> dict[str, str]:
    """What ``smartcity stack env`` adds for Airflow: its home and how to log in."""
    return {
        "AIRFLOW_HOME": str(airflow_home(settings)),
        "SMARTCITY_AIRFLOW_URL": api_url(settings),
        "SMARTCITY_AIRFLOW_USER": ADMIN_USER,
        "SMARTCITY_AIRFLOW_PASSWORD": stack_secrets.airflow_password,
    }


# --- airflow.cfg ------------------------------------------------------------------------------------------
def _internal_keys(home: Path) -> dict[str, str]:
    """Airflow's own keys (Fernet, JWT, api secret), generated once and kept 0600 in AIRFLOW_HOME."""
    path = home / "keys.json"
    keys: dict[str, str] = {}
    with contextlib.suppress(OSError, ValueError):
        keys = json.loads(path.read_text())
    generators = {
        # The Fernet key encrypts connections and variables in the database: never replaced once made.
        "fernet_key": lambda: urlsafe_b64encode(os.urandom(32)).decode(),
        # JWTs are signed with HMAC-SHA512, which wants a key of at least 64 bytes.
        "jwt_secret": lambda: secrets.token_urlsafe(64),
        "api_secret_key": lambda: secrets.token_urlsafe(32),
    }
    missing = [name for name in generators if not keys.get(name)]
    if len(keys.get("jwt_secret", "")) < 64:
        missing.append("jwt_secret")
    if missing:
        keys.update({name: generators[name]() for name in missing})
        write_private(path, json.dumps(keys, indent=2))
    return keys


def dag_bundles(settings: Settings) -> list[dict]:
    bundles = [
        {
            "name": "dags-folder",
            "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle",
            "kwargs": {"path": str(DAGS_FOLDER)},
        }
    ]
    if settings.airflow_extra_dags_dir:
        bundles.append(
            {
                "name": "extra-dags",
                "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle",
                "kwargs": {"path": str(Path(settings.airflow_extra_dags_dir).resolve())},
            }
        )
    return bundles


def airflow_cfg(settings: Settings, keys: dict[str, str]) -> str:
    home = airflow_home(settings)
    url = api_url(settings)
    sections: dict[str, dict[str, str]] = {
        "core": {
            "executor": "LocalExecutor",
            "parallelism": str(PARALLELISM),
            "max_active_tasks_per_dag": str(PARALLELISM),
            "dags_folder": str(DAGS_FOLDER),
            # The repository's plugins/ is a package the DAGs import (`plugins.lake`, ...), not AirflowPlugin
            # classes: as Airflow's plugins_folder every module in it would be exec'd again as a top-level
            # module in every component and task, and LocalExecutor workers forked from the scheduler would
            # keep the code as it was at start. Airflow's own plugins folder stays empty until a real
            # AirflowPlugin needs it.
            "plugins_folder": str(home / "plugins"),
            "load_examples": "False",
            # Triggered from the UI or `smartcity demo` at once; the catalog DAG's schedule starts too.
            "dags_are_paused_at_creation": "False",
            "fernet_key": keys["fernet_key"],
            "execution_api_server_url": f"{url}/execution/",
            "auth_manager": "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager",
            "simple_auth_manager_users": f"{ADMIN_USER}:admin",
            "simple_auth_manager_all_admins": "False",
            "simple_auth_manager_passwords_file": str(home / "passwords.json"),
        },
        "database": {
            # WAL + a busy timeout: the four components share one SQLite file without "database is locked".
            "sql_alchemy_conn": f"sqlite:///{home / 'airflow.db'}?timeout=30",
        },
        "api": {
            "host": LOOPBACK,
            "port": str(settings.airflow_port),
            "base_url": url,
            "workers": "1",
            "secret_key": keys["api_secret_key"],
            "expose_config": "False",
        },
        "api_auth": {"jwt_secret": keys["jwt_secret"]},
        "logging": {"base_log_folder": str(home / "logs")},
        "scheduler": {"enable_health_check": "False"},
        "dag_processor": {
            "dag_bundle_config_list": json.dumps(dag_bundles(settings)),
            "parsing_processes": "1",
            "refresh_interval": "30",  # new DAG files show up within 30 s
            "min_file_process_interval": "30",
        },
        "triggerer": {"capacity": "100"},
    }
    parser = configparser.RawConfigParser()
    parser.read_dict(sections)
    out = io.StringIO()
    out.write("# Written by `smartcity stack up`; edits are overwritten. Keys are secret: keep this file 0600.\n")
    parser.write(out)
    return out.getvalue()


def _airflow_process_env(ctx: StackContext) -> dict[str, str]:
    env = dict(ctx.env)
    # spark-submit (SparkSubmitOperator) and airflow itself come from the venv; they go first on PATH.
    env["PATH"] = os.pathsep.join([str(_venv_bin()), os.environ.get("PATH", "/usr/bin:/bin")])
    env["AIRFLOW_HOME"] = str(airflow_home(ctx.settings))
    env["AIRFLOW_CONFIG"] = str(airflow_home(ctx.settings) / "airflow.cfg")
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


def prepare_airflow_home(ctx: StackContext) -> Path:
    """Write airflow.cfg and the passwords file; migrate the metadata database once per Airflow version."""
    home = airflow_home(ctx.settings)
    home.mkdir(parents=True, exist_ok=True)
    home.chmod(0o700)  # the metadata database and the logs stay private too
    (home / "logs").mkdir(exist_ok=True)
    (home / "plugins").mkdir(exist_ok=True)
    write_private(home / "airflow.cfg", airflow_cfg(ctx.settings, _internal_keys(home)))
    write_private(home / "passwords.json", json.dumps({ADMIN_USER: ctx.secrets.airflow_password}) + "\n")
    write_private(home / CONNECTIONS_FILE, json.dumps(airflow_connections(ctx.settings, ctx.secrets), indent=2))
    marker = home / f".migrated-{version('apache-airflow')}"
    if marker.exists():
        return home
    migrate = subprocess.run(
        [airflow_binary(), "db", "migrate"],
        env=_airflow_process_env(ctx),
        cwd=home,
        capture_output=True,
        text=True,
        check=False,
    )
    if migrate.returncode != 0:
        output = "\n".join((migrate.stdout + migrate.stderr).splitlines()[-30:])
        raise StackError(f"`airflow db migrate` failed in {home}:\n{output}")
    with sqlite3.connect(home / "airflow.db") as db:
        db.execute("PRAGMA journal_mode=WAL")  # persistent: stored in the database file
    marker.touch()
    return home


def airflow_health(settings: Settings, timeout: float = 2.0) -> dict | None:
    """The api-server's health payload (no login needed), None while it does not answer."""
    try:
        with urllib.request.urlopen(api_url(settings) + HEALTH_PATH, timeout=timeout) as response:
            if response.status != 200:
                return None
            return json.loads(response.read())
    except (OSError, ValueError, urllib.error.URLError):
        return None


# --- the four components ------------------------------------------------------------------------------------
class _AirflowComponent(Service):
    """One Airflow component; they share AIRFLOW_HOME, airflow.cfg and the environment."""

    component = ""  # the `airflow <component>` sub-command
    health_key = ""  # its entry in the api-server's health payload
    extra_args: tuple[str, ...] = ()
    stop_wait_s = 30

    def ports(self, settings: Settings) -> list[Port]:
        return []

    def prepare(self, ctx: StackContext) -> None:
        prepare_airflow_home(ctx)

    def command(self, ctx: StackContext) -> list[str]:
        # Through the launcher below, which adds the AIRFLOW_CONN_* variables and execs `airflow`.
        return [sys.executable, "-m", __name__, self.component, *self.extra_args]

    def environment(self, ctx: StackContext) -> dict[str, str]:
        return _airflow_process_env(ctx)

    def working_dir(self, ctx: StackContext) -> Path:
        return airflow_home(ctx.settings)

    def is_ready(self, ctx: StackContext) -> bool:
        health = airflow_health(ctx.settings)
        return bool(health) and health.get(self.health_key, {}).get("status") == "healthy"


class AirflowApiServer(_AirflowComponent):
    name = "airflow-api-server"
    description = "Airflow 3 api-server (REST API, UI, task execution API)"
    component = "api-server"
    health_key = "metadatabase"
    stop_wait_s = 20

    def ports(self, settings: Settings) -> list[Port]:
        return [Port("ui/api", settings.airflow_port, "SMARTCITY_AIRFLOW_PORT")]


class AirflowScheduler(_AirflowComponent):
    name = "airflow-scheduler"
    description = "Airflow 3 scheduler (LocalExecutor)"
    component = "scheduler"
    health_key = "scheduler"
    extra_args = ("--skip-serve-logs",)
    stop_wait_s = 60  # lets running task processes finish their state updates


class AirflowDagProcessor(_AirflowComponent):
    name = "airflow-dag-processor"
    description = "Airflow 3 dag-processor (parses dags/, runs DAG callbacks)"
    component = "dag-processor"
    health_key = "dag_processor"


class AirflowTriggerer(_AirflowComponent):
    name = "airflow-triggerer"
    description = "Airflow 3 triggerer (deferred tasks, deadline alert callbacks)"
    component = "triggerer"
    health_key = "triggerer"
    extra_args = ("--skip-serve-logs",)


AIRFLOW_SERVICES: tuple[Service, ...] = (
    AirflowApiServer(),
    AirflowScheduler(),
    AirflowDagProcessor(),
    AirflowTriggerer(),
)


# --- launcher -------------------------------------------------------------------------------------------------
def main(argv: list[str]) -> None:
    """``python -m smartcity.stack.services.airflow <component> [args]``: exec ``airflow`` with the connections.

    The AIRFLOW_CONN_* values are JSON, which supervisord's ``environment=`` syntax cannot carry, so the
    stack writes them to ``$AIRFLOW_HOME/connections.json`` (0600) and this launcher puts them into the
    environment of the Airflow process it becomes (``exec``: same PID, supervisord keeps tracking it).
    """
    home = Path(os.environ["AIRFLOW_HOME"])
    try:
        connections = json.loads((home / CONNECTIONS_FILE).read_text())
    except (OSError, ValueError) as exc:
        sys.exit(f"cannot read the Airflow connections in {home / CONNECTIONS_FILE}: {exc}; run `smartcity stack up`")
    os.environ.update(connections)
    binary = airflow_binary()
    os.execv(binary, [binary, *argv])


if __name__ == "__main__":
    main(sys.argv[1:])
