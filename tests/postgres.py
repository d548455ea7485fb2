"""A throwaway PostgreSQL cluster for the CDC tests: Debian's pg_createcluster on a free port, logical
decoding on, and a password-authenticated superuser with REPLICATION (the socket uses peer auth)."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

USER = "c360"
PASSWORD = "c360-test"


@dataclass(frozen=True)
class PostgresServer:
    version: str
    cluster: str
    port: int

    @classmethod
    def create(cls, cluster: str, data_dir: Path, port: int) -> PostgresServer:
        version = max(p.name for p in Path("/usr/lib/postgresql").iterdir())
        subprocess.run(
            ["pg_createcluster", version, cluster, "-d", str(data_dir), "-p", str(port),
             # listen_addresses=localhost: pg_createcluster quotes the value itself, and an IP needs quotes.
             "-o", "listen_addresses=localhost", "-o", "wal_level=logical", "-o", "max_wal_senders=20",
             "-o", "max_replication_slots=20", "-o", "fsync=off"],
            check=True, capture_output=True,
        )  # fmt: skip
        subprocess.run(
            ["pg_ctlcluster", "--skip-systemctl-redirect", version, cluster, "start"],
            check=True,
            capture_output=True,
        )
        create_role = f"CREATE ROLE {USER} LOGIN SUPERUSER REPLICATION PASSWORD '{PASSWORD}'"
        subprocess.run(
            ["runuser", "-u", "postgres", "--", "psql", "-p", str(port), "-q", "-c", create_role],
            check=True,
            capture_output=True,
        )
        return cls(version, cluster, port)

    def connect(self, dbname: str = "postgres") -> psycopg.Connection:
        return psycopg.connect(
            host="127.0.0.1", port=self.port, user=USER, password=PASSWORD, dbname=dbname, autocommit=True
        )

    def create_database(self, name: str) -> None:
        with self.connect() as conn:
            conn.execute(f'CREATE DATABASE "{name}"')

    def connector_properties(self, dbname: str) -> dict[str, Any]:
        """A Debezium PostgreSQL connector capturing `dbname` through pgoutput and the publication `c360`;
        its topic prefix and replication slot are named after the database."""
        return {
            "connector.class": "io.debezium.connector.postgresql.PostgresConnector",
            "database.hostname": "127.0.0.1",
            "database.port": self.port,
            "database.user": USER,
            "database.password": PASSWORD,
            "database.dbname": dbname,
            "topic.prefix": dbname,
            "plugin.name": "pgoutput",
            "publication.name": "c360",
            "slot.name": dbname,
        }
