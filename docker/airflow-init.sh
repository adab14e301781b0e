#!/usr/bin/env bash
# The airflow-init service of docker-compose.airflow.yml: run once before the Airflow components start.
#
# 1. Airflow's own keys (Fernet, JWT, API secret), generated on the first start and kept 0600 in the
#    airflow-secrets volume. Every component reads them through AIRFLOW__..._CMD, so they never appear in
#    the environment, in .env or in git.
# 2. The UI login: SMARTCITY_AIRFLOW_USER / SMARTCITY_AIRFLOW_PASSWORD from .env, written to the
#    SimpleAuthManager passwords file on every start (change the password in .env, then restart).
# 3. `airflow db migrate` on the PostgreSQL metadata database (does nothing when it is up to date).
set -euo pipefail
umask 077
secrets=/opt/airflow/secrets

new_key() {
  local file=$secrets/$1
  if [[ ! -s $file ]]; then
    case $1 in
      fernet_key) python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())' ;;
      *) python -c 'import secrets; print(secrets.token_urlsafe(32))' ;;
    esac > "$file.tmp"
    mv "$file.tmp" "$file"
    echo "airflow-init: generated $1"
  fi
}
new_key fernet_key
new_key jwt_secret
new_key api_secret_key

: "${SMARTCITY_AIRFLOW_PASSWORD:?set SMARTCITY_AIRFLOW_PASSWORD in .env}"
python - <<'PY'
import json, os
user = os.environ.get("SMARTCITY_AIRFLOW_USER", "admin")
path = "/opt/airflow/secrets/passwords.json"
with open(path + ".tmp", "w") as out:
    json.dump({user: os.environ["SMARTCITY_AIRFLOW_PASSWORD"]}, out)
os.replace(path + ".tmp", path)
PY

airflow db migrate
echo "airflow-init: done"
