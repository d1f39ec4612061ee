#!/usr/bin/env bash
# The airflow-init service: runs once before the other Airflow services start, and again on every
# `docker compose up` (each step is idempotent). Connections need no step: they are AIRFLOW_CONN_*
# environment variables of every service (docker-compose.yml).
set -euo pipefail

airflow db migrate
airflow pools import "${RELIABLE_API_POOLS_FILE:-/opt/airflow/dags/pools.json}"
