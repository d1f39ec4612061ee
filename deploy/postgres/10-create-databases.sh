#!/bin/sh
# Run by the postgres image on the first start of an empty volume (docker-entrypoint-initdb.d):
# the Airflow metadata DB is POSTGRES_DB; these are the provider's state DB and the warehouse.
set -eu
for database in "$STATE_DB_NAME" "$WAREHOUSE_DB_NAME"; do
    psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
        -c "CREATE DATABASE \"$database\""
done
