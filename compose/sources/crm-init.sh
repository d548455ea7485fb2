#!/bin/sh
# After crm-schema.sql (the postgres image runs /docker-entrypoint-initdb.d in name order, once, on an
# empty data directory): a `debezium` role that may replicate and read only the captured tables. Its
# password comes from the secret file, never from this script.
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
  -v debezium_password="$(cat /run/secrets/crm_db_debezium_password)" <<'SQL'
CREATE ROLE debezium LOGIN REPLICATION PASSWORD :'debezium_password';
GRANT SELECT ON product_holdings, service_interactions, identity_map TO debezium;
SQL
