"""The PostgreSQL-protocol endpoint: the customer 360 views for psql, psycopg, JDBC and BI tools."""
