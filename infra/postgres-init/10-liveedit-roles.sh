#!/usr/bin/env bash
# Runs once, when the postgres container initialises an empty data volume (docker-entrypoint-initdb.d).
# Creates the ledger's two roles: liveedit_owner (owns the ledger schemas, runs the migration) and
# liveedit_app (what the hosts connect as: no superuser, owns nothing; the migration grants it append and read).
# The bootstrap superuser ($POSTGRES_USER) stays for administration only.
set -euo pipefail
: "${LIVEEDIT_PG_OWNER_PASSWORD:?LIVEEDIT_PG_OWNER_PASSWORD is required}"
: "${LIVEEDIT_PG_APP_PASSWORD:?LIVEEDIT_PG_APP_PASSWORD is required}"
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
  -v db="$POSTGRES_DB" -v owner_pw="$LIVEEDIT_PG_OWNER_PASSWORD" -v app_pw="$LIVEEDIT_PG_APP_PASSWORD" <<'SQL'
CREATE ROLE liveedit_owner LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS PASSWORD :'owner_pw';
CREATE ROLE liveedit_app LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS NOINHERIT PASSWORD :'app_pw';
REVOKE ALL ON DATABASE :"db" FROM PUBLIC;
GRANT CONNECT, TEMPORARY ON DATABASE :"db" TO liveedit_app;
GRANT CONNECT, TEMPORARY, CREATE ON DATABASE :"db" TO liveedit_owner;
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
SQL
