#!/bin/sh
# Run once by the postgres image on an empty data volume (/docker-entrypoint-initdb.d/).
# One server, three databases, each owned by the application role POSTGRES_USER:
#   rakuten  product store, labels, load batches, inference log (RAKUTEN_DATABASE_URL)
#   mlflow   MLflow tracking and model registry backend store
#   dagster  Dagster runs, event log, schedules and sensors (dagster-postgres)
# Idempotent: a database that exists already is left alone.
set -eu

for db in ${RAKUTEN_DATABASES:-rakuten mlflow dagster}; do
  exists=$(psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres -tAc \
    "SELECT 1 FROM pg_database WHERE datname = '$db'")
  if [ "$exists" = "1" ]; then
    echo "postgres-init: database $db exists"
  else
    echo "postgres-init: creating database $db"
    psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
      -c "CREATE DATABASE \"$db\" OWNER \"$POSTGRES_USER\""
  fi
done
