#!/bin/sh
# Creates Temporal's two PostgreSQL databases when they are missing and migrates their schemas to the version the
# temporal-sql-tool beside the server ships (its schemas are built into it). Running it again changes nothing, so it
# runs before every start of the server: in docker-compose.yml (the temporalio/admin-tools image) and in
# `npm run cluster` and the cluster tests (the tool built into .tools/).
#
# Environment, named as the server's configuration (config/baton.yaml) names it:
#   POSTGRES_SEEDS (required), DB_PORT (5432), POSTGRES_USER (required), POSTGRES_PWD, DB (postgres12),
#   DBNAME (temporal), VISIBILITY_DBNAME (temporal_visibility), TEMPORAL_SQL_TOOL (temporal-sql-tool on PATH).
set -eu

tool="${TEMPORAL_SQL_TOOL:-temporal-sql-tool}"
export SQL_PLUGIN="${DB:-postgres12}"
export SQL_HOST="${POSTGRES_SEEDS:?POSTGRES_SEEDS is required (the PostgreSQL host)}"
export SQL_PORT="${DB_PORT:-5432}"
export SQL_USER="${POSTGRES_USER:?POSTGRES_USER is required}"
export SQL_PASSWORD="${POSTGRES_PWD:-}"

# Runs the tool quietly; on failure prints everything it said.
run() {
  if ! out="$("$tool" "$@" 2>&1)"; then
    printf '%s\n' "$out" >&2
    echo "temporal-sql-tool $* failed on $SQL_HOST:$SQL_PORT (database $SQL_DATABASE)" >&2
    exit 1
  fi
}

migrate() {
  export SQL_DATABASE="$1"
  # CREATE DATABASE fails when it exists; --quiet keeps that from stopping a second run, and a real failure
  # (no such host, a refused login) fails the next step with the same cause.
  "$tool" --quiet create-database >/dev/null 2>&1 || true
  run setup-schema -v 0.0
  run update-schema --schema-name "postgresql/v12/$2"
  echo "database $1 is at the schema $tool ships ($2)"
}

migrate "${DBNAME:-temporal}" temporal
migrate "${VISIBILITY_DBNAME:-temporal_visibility}" visibility
