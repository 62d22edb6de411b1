#!/bin/sh
# The Grafana history reader: a login that can read kpi_daily and the tenants' names, nothing else.
#
# docker-compose.yml mounts this into the postgres container's /docker-entrypoint-initdb.d, so PostgreSQL's
# entrypoint runs it once, when the data volume is initialised — BEFORE the migrate container has created any
# table. Hence:
#   1. the role: LOGIN with $GRAFANA_DB_PASSWORD and no other attribute; read-only transactions by default, a
#      statement timeout and a few connections (Grafana's pool);
#   2. CONNECT on the database, USAGE on schema public;
#   3. SELECT on the history tables that exist already (none on a fresh volume; all when run again later), and on
#      the columns tenant and name of the tenants table (the dashboard's tenant choice shows the names, issue 16);
#   4. an event trigger that grants these when a migration creates the tables (uhd-telephony migrate, also
#      after a downgrade and upgrade): the migrations need not know about Grafana.
# Not ALTER DEFAULT PRIVILEGES: that would grant every table the migrations ever create — password and API token
# hashes, webhook secrets, the callers' names and numbers. The reader sees what the history dashboard shows.
#
# Idempotent. Run it again after changing GRAFANA_DB_PASSWORD, or once on a volume initialised before it existed:
#   docker compose exec postgres sh /docker-entrypoint-initdb.d/10-grafana-reader.sh
# Environment: POSTGRES_USER and POSTGRES_DB (the image's), GRAFANA_DB_PASSWORD; GRAFANA_DB_USER (default
# grafana_reader, the user of grafana/provisioning/datasources/postgres.yml). tests/metrics/test_history.py runs
# this very file against a throwaway database (PGHOST set) and checks what the role can and cannot do.
#
# Sourced, not executed, when the file has lost its x bit: no `set`, no `exit`; a failing psql fails the init.

: "${GRAFANA_DB_PASSWORD:?set GRAFANA_DB_PASSWORD in .env}"

psql --no-psqlrc -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
    -v reader="${GRAFANA_DB_USER:-grafana_reader}" -v tables='{public.kpi_daily}' -v named='{public.tenants}' <<'SQL'
-- the password from the environment, not from the command line (ps shows that)
\getenv password GRAFANA_DB_PASSWORD
SET client_min_messages = warning;

SELECT format('CREATE ROLE %I', :'reader')
 WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'reader') \gexec
SELECT format('ALTER ROLE %I WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT NOREPLICATION NOBYPASSRLS '
              'CONNECTION LIMIT 10 PASSWORD %L', :'reader', :'password') \gexec
ALTER ROLE :"reader" SET default_transaction_read_only = on;
ALTER ROLE :"reader" SET statement_timeout = '30s';

GRANT CONNECT ON DATABASE :"DBNAME" TO :"reader";
GRANT USAGE ON SCHEMA public TO :"reader";

SELECT format('GRANT SELECT ON TABLE %s TO %I', t, :'reader')
  FROM unnest(:'tables'::text[]) AS t
 WHERE to_regclass(t) IS NOT NULL \gexec
-- of the tenants, their slug and display name only (not their regions, flags or dates)
SELECT format('GRANT SELECT (tenant, name) ON TABLE %s TO %I', t, :'reader')
  FROM unnest(:'named'::text[]) AS t
 WHERE to_regclass(t) IS NOT NULL \gexec

-- runs as whoever creates the table (its owner, who may grant on it); a dropped role leaves migrations alone
SELECT format($fn$
CREATE OR REPLACE FUNCTION public.uhd_grant_history_reader() RETURNS event_trigger LANGUAGE plpgsql AS $body$
DECLARE
    created record;
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = %1$L) THEN
        RETURN;
    END IF;
    FOR created IN
        SELECT object_identity FROM pg_event_trigger_ddl_commands()
         WHERE object_type = 'table' AND object_identity = ANY (%2$L::text[])
    LOOP
        EXECUTE format('GRANT SELECT ON TABLE %%s TO %%I', created.object_identity, %1$L);
    END LOOP;
    FOR created IN
        SELECT object_identity FROM pg_event_trigger_ddl_commands()
         WHERE object_type = 'table' AND object_identity = ANY (%3$L::text[])
    LOOP
        EXECUTE format('GRANT SELECT (tenant, name) ON TABLE %%s TO %%I', created.object_identity, %1$L);
    END LOOP;
END
$body$
$fn$, :'reader', :'tables', :'named') \gexec
DROP EVENT TRIGGER IF EXISTS uhd_grant_history_reader;
CREATE EVENT TRIGGER uhd_grant_history_reader ON ddl_command_end WHEN TAG IN ('CREATE TABLE')
    EXECUTE FUNCTION public.uhd_grant_history_reader();
SQL
