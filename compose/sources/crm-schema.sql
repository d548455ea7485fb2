-- The sample CRM's tables that the `crm` connector captures, and the publication Debezium reads them
-- through. tests/e2e/test_cdc_postgres.py creates its source database from this very file.
CREATE TABLE product_holdings (
  id bigint PRIMARY KEY, customer_id text NOT NULL, product_id text NOT NULL, product_type text,
  status text, credit_limit numeric(14,2), outstanding_balance numeric(14,2), opened_date date);
CREATE TABLE service_interactions (
  id bigint PRIMARY KEY, customer_id text NOT NULL, occurred_at timestamptz NOT NULL, channel text,
  reason text);
CREATE TABLE identity_map (
  brand text, brand_account_id text, customer_id text NOT NULL, PRIMARY KEY (brand, brand_account_id));
CREATE PUBLICATION c360 FOR TABLE product_holdings, service_interactions, identity_map;
