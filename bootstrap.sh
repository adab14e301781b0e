#!/usr/bin/env bash
# Install everything smartcity needs, from the project's own files:
#   uv (from PyPI) -> the locked Python environment in .venv -> the Kafka/Spark jars from Maven Central.
# Safe to run again: each step is skipped or quick when already done.
set -euo pipefail
cd "$(dirname "$0")"

fail() { echo "bootstrap: $*" >&2; exit 1; }
command -v python3 >/dev/null || fail "python3 is required (3.11)."
command -v java >/dev/null || fail "Java 17 is required for Kafka and Spark (Debian: apt-get install openjdk-17-jre-headless)."
command -v mvn >/dev/null || fail "Maven is required to fetch the Kafka and Spark jars (Debian: apt-get install maven)."

UV_VERSION=0.13.9
if ! python3 -m uv --version >/dev/null 2>&1; then
  echo "bootstrap: installing uv ${UV_VERSION} from PyPI"
  python3 -m pip install --quiet --disable-pip-version-check "uv==${UV_VERSION}" \
    || python3 -m pip install --quiet --disable-pip-version-check --user "uv==${UV_VERSION}" \
    || fail "could not install uv with pip."
fi

# Debian's Chromium renders the journey report headless in the tests (issue 9); optional for the pipeline.
if ! command -v chromium >/dev/null 2>&1 && ! command -v chromium-browser >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "bootstrap: installing Debian's chromium (headless report rendering in the tests)"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null 2>&1 \
      || { apt-get update -qq >/dev/null 2>&1 \
           && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null 2>&1; } \
      || echo "bootstrap: could not install chromium; the report screenshot test will be skipped" >&2
  else
    echo "bootstrap: chromium not found (sudo apt-get install chromium); the report screenshot test will be skipped" >&2
  fi
fi

echo "bootstrap: syncing .venv from uv.lock"
python3 -m uv sync --locked --quiet

echo "bootstrap: resolving JVM jars (Maven Central, cached)"
.venv/bin/smartcity setup
