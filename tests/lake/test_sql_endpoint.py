"""The PostgreSQL-protocol endpoint with real clients: psql (Debian's postgresql-client), psycopg and the
PostgreSQL JDBC driver (Debian's libpostgresql-jdbc-java, from JdbcProbe.java beside this file) list the
views and read customer_360 with the values the API serves for the same profiles at the same sync
position (both clocks at the world's); a reader without the pii grant gets the API's masked names and
contacts; writes and wrong keys are refused (bounds and TLS: test_sql_bounds.py). One endpoint serves
every client."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from api.app import ApiServices, create_app
from api.auth import KeyRing
from c360.settings import Settings
from c360.storage import Location
from c360.world import generate_world
from c360.world_events import world_events
from operational.store import Store
from profiles.offers import load_offer_rules
from sql.engine import Engine
from sql.server import Endpoint
from sync.runner import LakeSync
from tests.lake.support import apply, step_until_idle
from tests.sql_serving import serving

pytestmark = pytest.mark.integration

JDBC_JAR = Path("/usr/share/java/postgresql.jar")
KEYS = {
    "dpo": ("dpo-key-change-me-000001", "reader", True),
    "analyst": ("analyst-key-change-me-01", "reader", False),
}
COLUMNS = (
    "profile_id", "first_name", "last_name", "email", "phone", "country", "total_products",
    "product_diversity", "total_credit_limit", "total_outstanding", "credit_utilization", "tx_count_90d",
    "total_activity_volume", "channels_used", "mobile_tx_count", "last_activity_time", "contacts_30d",
    "avg_recent_sentiment", "open_issues_7d", "complaints_90d", "engagement_score",
)  # fmt: skip


@dataclass
class Served:
    port: int
    api: TestClient
    sample: list[str]

    def dsn(self, user: str, password: str | None = None) -> str:
        secret = KEYS[user][0] if password is None else password
        return f"host=127.0.0.1 port={self.port} dbname=c360 user={user} password={secret} sslmode=disable"


def _time(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text.replace("Z", "+00:00"))


def _money(text: Any) -> Decimal | None:
    return None if text is None else Decimal(str(text))


def _latest(body: dict[str, Any], kind: str) -> str | None:
    found = [i for i in body["identifiers"] if i["type"] == kind]
    return max(found, key=lambda i: (_time(i["last_seen"]), i["value"]))["value"] if found else None


def expected_row(body: dict[str, Any]) -> dict[str, Any]:
    """customer_360's row as docs/LAKEHOUSE.md defines it, from the API's profile body."""
    active = [h for h in body["holdings"] if h["status"] == "active"]
    tx, service, traits = body["transactions"], body["service"], body["traits"]
    return {
        "profile_id": body["id"],
        **{t: traits.get(t, {}).get("value") for t in ("first_name", "last_name", "country")},
        "email": _latest(body, "email"),
        "phone": _latest(body, "phone"),
        "total_products": len(active),
        "product_diversity": len({h["product_type"] for h in active if h["product_type"]}),
        "total_credit_limit": sum((_money(h["credit_limit"]) or 0 for h in active), Decimal(0)),
        "total_outstanding": sum((_money(h["outstanding_balance"]) or 0 for h in active), Decimal(0)),
        "credit_utilization": _money(body["credit_utilization"]),
        "tx_count_90d": tx["tx_count_90d"],
        "total_activity_volume": _money(tx["total_activity_volume"]),
        "channels_used": tx["channels_used"],
        "mobile_tx_count": tx["mobile_count_90d"],
        "last_activity_time": _time(tx["last_activity_time"]),
        "contacts_30d": service["contacts_30d"],
        "avg_recent_sentiment": _money(service["avg_recent_sentiment"]),
        "open_issues_7d": service["open_issues_7d"],
        "complaints_90d": service["complaints_90d"],
        "engagement_score": body["engagement_score"],
    }


def _api_body(served: Served, profile_id: str, user: str) -> dict[str, Any]:
    response = served.api.get(f"/profiles/{profile_id}", headers={"X-API-Key": KEYS[user][0]})
    assert response.status_code == 200, response.text
    return response.json()


@pytest.fixture
def served(lake_settings: Settings, lake: Location, store: Store) -> Iterator[Served]:
    world = generate_world(people=150, events_per_person=14, seed=2020, holdings=True)
    apply(store, world_events(world), batch=500)
    commits: list[object] = []
    step_until_idle(LakeSync(store, lake_settings.lake, commits.append).step, lambda: len(commits))
    engine = Engine(lake, load_offer_rules(), clock=lambda: world.now)
    assert engine.refresh()
    ring = KeyRing([(name, key, role, pii) for name, (key, role, pii) in KEYS.items()])  # type: ignore[misc]
    endpoint = Endpoint(engine, ring, None, max_connections=8, timeout_s=30.0)
    live = [
        d["_id"] for d in store.profiles.find({"merged_into": {"$exists": False}}, {"_id": 1}).sort("_id")
    ]
    services = ApiServices(keys=ring, clock=lambda: world.now)
    with serving(endpoint) as port, TestClient(create_app(store, services)) as api:
        yield Served(port, api, live[::7])


def test_psql_psycopg_and_jdbc_read_the_api_values(served: Served, tmp_path: Path) -> None:
    expected = {pid: expected_row(_api_body(served, pid, "dpo")) for pid in served.sample}
    assert len(expected) >= 15
    assert any(row["total_products"] for row in expected.values()), "the sample holds no holdings"
    assert any(row["tx_count_90d"] for row in expected.values()), "the sample has no recent transactions"

    # psycopg: every column of every sampled profile, and the catalog through information_schema.
    with psycopg.connect(served.dsn("dpo")) as conn:
        rows = conn.execute(
            f"SELECT {', '.join(COLUMNS)} FROM customer_360 WHERE profile_id = ANY(%s)", [served.sample]
        ).fetchall()
        got = {row[0]: dict(zip(COLUMNS, row, strict=True)) for row in rows}
        assert got == expected
        tables = conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1"
        ).fetchall()
        assert [t for (t,) in tables] == sorted(
            ["customer_360", "next_best_offer_signals", "purchase_stats", "popular_items",
             "recent_activity", "recent_errors"]
        )  # fmt: skip
        offers = dict(
            conn.execute("SELECT profile_id, next_best_offer FROM next_best_offer_signals").fetchall()
        )
        for pid in served.sample:
            offer = _api_body(served, pid, "dpo")["next_best_offer"]
            assert offers[pid] == (offer and offer["offer"]), pid

    # A reader without the pii grant: the API's masked values, the rest unchanged.
    with psycopg.connect(served.dsn("analyst")) as conn:
        masked = conn.execute(
            "SELECT profile_id, first_name, last_name, email, phone, tx_count_90d FROM customer_360 "
            "WHERE profile_id = ANY(%s)",
            [served.sample],
        ).fetchall()
        for pid, first, last, email, phone, tx_count in masked:
            body = _api_body(served, pid, "analyst")
            want = expected_row(body)
            assert (first, last, email, phone) == (
                want["first_name"],
                want["last_name"],
                want["email"],
                want["phone"],
            )
            assert tx_count == expected[pid]["tx_count_90d"]
            assert email is None or "***@" in email
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            conn.execute("CREATE TABLE stolen AS SELECT * FROM customer_360")
        conn.rollback()
        with pytest.raises(psycopg.errors.UndefinedTable):  # the unmasked data is not in this database
            conn.execute("SELECT email FROM c360_state_full")
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(served.dsn("analyst", password="not-the-key-0000000000"))

    # psql: \d lists the views, a query's values as text.
    env = {**os.environ, "PGPASSWORD": KEYS["dpo"][0], "PGSSLMODE": "disable"}
    psql = ["psql", "-h", "127.0.0.1", "-p", str(served.port), "-U", "dpo", "-d", "c360", "-X", "-A", "-t"]
    listed = subprocess.run(
        [*psql, "-F", "|", "-c", r"\dv"], env=env, capture_output=True, text=True, check=True
    )
    assert "public|customer_360|view|c360" in listed.stdout.splitlines()
    described = subprocess.run(
        [*psql, "-c", r"\d customer_360"], env=env, capture_output=True, text=True, check=True
    )
    assert "credit_utilization|numeric(38,4)" in described.stdout.replace(" ", "")
    query = "SELECT profile_id, tx_count_90d, total_activity_volume, credit_utilization FROM customer_360"
    shown = subprocess.run(
        [*psql, "-F", "\t", "-c", query], env=env, capture_output=True, text=True, check=True
    )
    psql_rows = {line.split("\t")[0]: line.split("\t") for line in shown.stdout.splitlines()}
    for pid, row in expected.items():
        _, tx_count, volume, utilization = psql_rows[pid]
        assert int(tx_count) == row["tx_count_90d"]
        assert Decimal(volume) == row["total_activity_volume"]
        assert (Decimal(utilization) if utilization else None) == row["credit_utilization"]

    # JDBC: DatabaseMetaData, then a prepared statement run often enough to be server-prepared (binary).
    javac, java = shutil.which("javac"), shutil.which("java")
    assert javac and java and JDBC_JAR.exists(), "a JDK and libpostgresql-jdbc-java are needed"
    subprocess.run([javac, "-d", str(tmp_path), str(Path(__file__).with_name("JdbcProbe.java"))], check=True)
    url = f"jdbc:postgresql://127.0.0.1:{served.port}/c360?sslmode=disable"
    ids = [pid for pid in served.sample for _ in range(2)]  # past pgjdbc's prepareThreshold of 5
    out = subprocess.run(
        [java, "-cp", f"{JDBC_JAR}:{tmp_path}", "JdbcProbe", url, "dpo", KEYS["dpo"][0], *ids],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout.splitlines()
    assert {line.split("\t")[1] for line in out if line.startswith("table\t")} >= {
        "customer_360",
        "purchase_stats",
    }
    assert [line.split("\t")[1] for line in out if line.startswith("column\t")] == list(COLUMNS)
    jdbc_rows = [
        dict(f.split("=", 1) for f in line.split("\t")[1:]) for line in out if line.startswith("row\t")
    ]
    assert len(jdbc_rows) == len(ids)
    for row in jdbc_rows:
        want = expected[row["profile_id"]]
        assert int(row["tx_count_90d"]) == want["tx_count_90d"]
        assert Decimal(row["total_activity_volume"]) == want["total_activity_volume"]
        assert row["email"] == str(want["email"]) if want["email"] else row["email"] == "null"
        utilization = None if row["credit_utilization"] == "null" else Decimal(row["credit_utilization"])
        assert utilization == want["credit_utilization"]
