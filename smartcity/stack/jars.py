"""Resolve the stack's JVM artifacts from Maven Central into the cache folder.

Each jar set is described by a pinned pom in ``maven/``; Maven itself does the
resolution (``dependency:copy-dependencies``), so versions, checksums and the
local ``~/.m2`` cache behave as data engineers expect. A set is re-resolved only
when its pom changes (a stamp file holds the pom's hash).
"""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from smartcity.stack.errors import StackError

MAVEN_DIR = Path(__file__).parent / "maven"

# A jar file name without its version: "netty-buffer-4.1.126.Final.jar" -> "netty-buffer".
_VERSION_SUFFIX = re.compile(r"-\d[^-]*\.jar$")


@dataclass(frozen=True)
class JarSet:
    name: str
    pom: Path
    drop_jars_pyspark_ships: bool = False


KAFKA_BROKER = JarSet("kafka-broker", MAVEN_DIR / "kafka-broker.pom.xml")
SPARK_CONNECTORS = JarSet("spark-connectors", MAVEN_DIR / "spark-connectors.pom.xml", drop_jars_pyspark_ships=True)
JAR_SETS = (KAFKA_BROKER, SPARK_CONNECTORS)


def artifact_name(jar_file: str) -> str:
    return _VERSION_SUFFIX.sub("", jar_file)


def pyspark_jars_dir() -> Path:
    import pyspark

    return Path(pyspark.__file__).parent / "jars"


def jar_dir(jars_root: Path, jar_set: JarSet) -> Path:
    return jars_root / jar_set.name


def _stamp(jar_set: JarSet) -> str:
    return hashlib.sha256(jar_set.pom.read_bytes()).hexdigest()


def is_resolved(jars_root: Path, jar_set: JarSet) -> bool:
    stamp = jar_dir(jars_root, jar_set) / ".resolved"
    return stamp.exists() and stamp.read_text().strip() == _stamp(jar_set)


def resolve(jars_root: Path, jar_set: JarSet) -> Path:
    """Resolve ``jar_set`` into ``jars_root/<name>`` unless already done; return that folder."""
    target = jar_dir(jars_root, jar_set)
    if is_resolved(jars_root, jar_set):
        return target
    mvn = shutil.which("mvn")
    if mvn is None:
        raise StackError(
            "Maven (mvn) is not on PATH; it is needed once to fetch the Kafka and Spark jars. "
            "Install it (Debian: apt-get install maven) and run `smartcity setup` again."
        )
    staging = target.with_name(target.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    cmd = [
        mvn,
        "-q",
        "-B",
        "-f",
        str(jar_set.pom),
        "dependency:copy-dependencies",
        f"-DoutputDirectory={staging}",
        "-DincludeScope=runtime",
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-15:])
        raise StackError(f"Maven could not resolve the {jar_set.name} jars ({jar_set.pom.name}):\n{tail}")
    if jar_set.drop_jars_pyspark_ships:
        _drop_duplicates_of(staging, pyspark_jars_dir())
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)
    (target / ".resolved").write_text(_stamp(jar_set) + "\n")
    return target


def _drop_duplicates_of(folder: Path, reference: Path) -> None:
    """Delete jars whose artifact pyspark already ships (two versions on one classpath conflict).

    commons-logging goes too: pyspark routes it through jcl-over-slf4j.
    """
    shipped = {artifact_name(p.name) for p in reference.glob("*.jar")} | {"commons-logging"}
    for jar in folder.glob("*.jar"):
        if artifact_name(jar.name) in shipped:
            jar.unlink()


def jars(jars_root: Path, jar_set: JarSet) -> list[Path]:
    return sorted(jar_dir(jars_root, jar_set).glob("*.jar"))


def resolve_all(jars_root: Path) -> dict[str, Path]:
    return {jar_set.name: resolve(jars_root, jar_set) for jar_set in JAR_SETS}
