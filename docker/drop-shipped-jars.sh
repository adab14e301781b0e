#!/bin/sh
# Usage: drop-shipped-jars.sh CONNECTOR_JARS_DIR SPARK_JARS_DIR
#
# Delete from CONNECTOR_JARS_DIR every jar whose artifact Spark already ships in SPARK_JARS_DIR (two versions
# of one library on a classpath conflict), and commons-logging (Spark routes it through jcl-over-slf4j).
# The same rule as smartcity.stack.jars for the embedded stack; tests/compose checks they agree.
set -eu
connectors=$1
spark_jars=$2

artifact() {
  # "netty-buffer-4.1.126.Final.jar" -> "netty-buffer"
  basename "$1" | sed -E 's/-[0-9][^-]*\.jar$//'
}

shipped=$(
  for jar in "$spark_jars"/*.jar; do artifact "$jar"; done
  echo commons-logging
)
for jar in "$connectors"/*.jar; do
  if printf '%s\n' "$shipped" | grep -qxF "$(artifact "$jar")"; then
    rm -f "$jar"
  fi
done
