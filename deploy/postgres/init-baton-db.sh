#!/bin/sh
# Runs once, when the PostgreSQL volume is first initialised: creates baton's ledger database and its owner beside
# the databases the Temporal server creates for itself.
set -e

psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
  -v baton_user="$BATON_DB_USER" -v baton_password="$BATON_DB_PASSWORD" -v baton_db="$BATON_DB_NAME" <<'SQL'
CREATE ROLE :"baton_user" LOGIN PASSWORD :'baton_password';
CREATE DATABASE :"baton_db" OWNER :"baton_user";
SQL
