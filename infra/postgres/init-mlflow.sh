#!/bin/bash
# A separate database and role for MLflow's backend store next to Airflow's metadata; the password
# comes from the environment (MLFLOW_DB_PASSWORD in .env), never from this file.
set -euo pipefail
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
  -v mlflow_password="$MLFLOW_DB_PASSWORD" <<'EOSQL'
CREATE USER mlflow WITH PASSWORD :'mlflow_password';
CREATE DATABASE mlflow OWNER mlflow;
EOSQL
