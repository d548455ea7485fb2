#!/bin/sh
# The sample CRM database that the `crm` connector captures (run once by the postgres image on an empty
# data directory): its three tables, a publication for them, and a `debezium` role that may replicate and
# read only those tables. The password comes from the secret file, never from this script.
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
  -v debezium_password="$(cat /run/secrets/crm_db_debezium_password)" <<'SQL'
CREATE TABLE product_holdings (
  id bigint PRIMARY KEY, customer_id text NOT NULL, product_id text NOT NULL, product_type text,
  status text, credit_limit numeric(14,2), outstanding_balance numeric(14,2), opened_date date);
CREATE TABLE service_interactions (
  id bigint PRIMARY KEY, customer_id text NOT NULL, occurred_at timestamptz NOT NULL, channel text,
  reason text);
CREATE TABLE identity_map (
  brand text, brand_account_id text, customer_id text NOT NULL, PRIMARY KEY (brand, brand_account_id));
CREATE PUBLICATION c360 FOR TABLE product_holdings, service_interactions, identity_map;
CREATE ROLE debezium LOGIN REPLICATION PASSWORD :'debezium_password';
GRANT SELECT ON product_holdings, service_interactions, identity_map TO debezium;
SQL
