"""Live PostgreSQL CDC: a real Debezium connector (`c360 connect`) captures a real database into the
Kafka broker, c360 ingest applies it, and profiles follow the source tables: snapshot, insert, update,
delete, truncate, a graceful restart with changes made while it was down, and a kill -9 restart."""

from __future__ import annotations

import signal
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import pytest
from kafka import KafkaProducer

from c360.settings import Settings
from operational.store import Store
from tests.e2e.cdc_support import live_cdc, offsets_lsn, running_ingest, until
from tests.e2e.support import Pipeline
from tests.postgres import PostgresServer
from tests.repository import repository_file

pytestmark = pytest.mark.e2e
TABLES = ("product_holdings", "service_interactions", "identity_map")

SCHEMA = repository_file("compose/sources/crm-schema.sql").read_text()  # the compose sample CRM's


def _hold(source: psycopg.Connection, *row: Any) -> None:
    source.execute("INSERT INTO product_holdings VALUES (%s, %s, %s, %s, %s, %s, %s, %s)", row)


def _holdings(doc: dict[str, Any]) -> list[tuple[str, str, Decimal | None, Decimal | None, str | None]]:
    """(key, product, limit, balance, status) per holding, as the profile shows them."""
    rows = doc.get("cdc", {}).get("holdings", [])
    return [
        (
            h["key"],
            h["product_id"],
            _money(h.get("credit_limit")),
            _money(h.get("outstanding_balance")),
            h.get("status"),
        )
        for h in rows
    ]


def _money(value: Any) -> Decimal | None:
    """The store reads Decimal128 back as Decimal: exact, never a float."""
    assert value is None or type(value) is Decimal
    return value


def _last_lsn(store: Store) -> int:
    """The LSN of the last change ingest recorded (positions are "<commit lsn>.<lsn>")."""
    positions = store.events.distinct("change.position", {"change.position": {"$ne": None}})
    return max(int(p.rsplit(".", 1)[1]) for p in positions)


def _has(expected: list[Any]) -> Callable[[dict[str, Any]], bool]:
    return lambda doc: _holdings(doc) == expected


def test_postgres_changes_reach_profiles(
    postgres: PostgresServer,
    settings: Settings,
    fresh_db: str,
    unique_name: Callable[[str], str],
    tmp_path: Path,
) -> None:
    name = f"crm_{uuid.uuid4().hex[:10]}"  # database, slot and topic prefix
    postgres.create_database(name)
    source = postgres.connect(name)
    source.execute(SCHEMA)
    # Before the connector starts: captured by its snapshot (op r).
    _hold(
        source,
        1,
        "C-1",
        "CC-GOLD",
        "credit_card",
        "open",
        Decimal("5000.00"),
        Decimal("120.55"),
        "2020-01-02",
    )
    source.execute("INSERT INTO identity_map VALUES ('retail', 'R-1', 'C-1')")

    live = live_cdc(
        settings,
        fresh_db,
        unique_name,
        tmp_path,
        {"crm": name, "retail": name + "_retail"},
        name,
        {
            **postgres.connector_properties(name),
            "publication.autocreate.mode": "disabled",
            "table.include.list": ",".join(f"public.{t}" for t in TABLES),
        },
    )
    configured, store, connector = live.settings, live.store, live.connector
    latencies: list[float] = []
    try:
        with running_ingest(configured, live.topics):
            connector.start()
            card = ("[1]", "CC-GOLD", Decimal("5000.00"), Decimal("120.55"), "open")
            until(store, "customer_id:C-1", _has([card]), "the snapshot")
            # The identity map links the brand account to the customer: one profile holds both.
            until(store, "account_id:R-1", _has([card]), "the identity link")

            _hold(source, 2, "C-1", "LOAN-5", "loan", "open", None, Decimal("9000.00"), "2024-05-06")
            loan = ("[2]", "LOAN-5", None, Decimal("9000.00"), "open")
            latencies.append(until(store, "customer_id:C-1", _has([card, loan]), "an insert"))

            source.execute(
                "UPDATE product_holdings SET outstanding_balance = 0.01, status = 'frozen' WHERE id = 1"
            )
            card = ("[1]", "CC-GOLD", Decimal("5000.00"), Decimal("0.01"), "frozen")
            latencies.append(until(store, "customer_id:C-1", _has([card, loan]), "an update"))

            source.execute("DELETE FROM product_holdings WHERE id = 2")
            latencies.append(until(store, "customer_id:C-1", _has([card]), "a delete"))

            at = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)
            source.execute(
                "INSERT INTO service_interactions VALUES "
                "(1, 'C-1', %s, 'phone', 'card'), (2, 'C-1', %s, 'chat', 'fee')",
                (at, at.replace(day=5)),
            )
            interactions = {"service_interactions": {"count": 2, "last_at": at.replace(day=5)}}
            latencies.append(
                until(
                    store,
                    "customer_id:C-1",
                    lambda d: d["cdc"]["interactions"] == interactions,
                    "interactions",
                )
            )

            # A graceful stop exits cleanly with the offsets of all it relayed committed: a restart relays
            # none of it again, nor takes a new snapshot. Changes made while it is down arrive (no gap).
            assert connector.stop(signal.SIGTERM) == 0
            assert offsets_lsn(connector.offsets.read_bytes()) >= _last_lsn(store)
            _hold(source, 3, "C-2", "SAV-1", "savings", "open", None, Decimal("10.00"), "2025-01-01")
            source.execute("UPDATE product_holdings SET credit_limit = 7500.00 WHERE id = 1")
            connector.start()
            card = ("[1]", "CC-GOLD", Decimal("7500.00"), Decimal("0.01"), "frozen")
            saving = ("[3]", "SAV-1", None, Decimal("10.00"), "open")
            until(store, "customer_id:C-1", _has([card]), "the change made while stopped")
            until(store, "customer_id:C-2", _has([saving]), "the insert made while stopped")

            # kill -9 right after a change: up to one offset flush is delivered again, and recognised.
            source.execute("UPDATE product_holdings SET status = 'closed' WHERE id = 3")
            saving = ("[3]", "SAV-1", None, Decimal("10.00"), "closed")
            until(store, "customer_id:C-2", _has([saving]), "the update before the kill")
            connector.stop(signal.SIGKILL)
            connector.start()
            source.execute("TRUNCATE product_holdings")
            until(store, "customer_id:C-2", _has([]), "the truncate after a restart")
            until(store, "customer_id:C-1", _has([]), "the truncate")

            # A corrupt record on a CDC topic goes to the dead letter; the pipeline keeps going.
            producer = KafkaProducer(bootstrap_servers=configured.kafka.bootstrap_servers)
            producer.send(f"{name}.public.product_holdings", key=b'{"id": 9}', value=b'{"op": "c", "after": ')
            producer.close()
            _hold(
                source,
                4,
                "C-2",
                "CC-2",
                "credit_card",
                "open",
                Decimal("100.00"),
                Decimal("0.00"),
                "2026-01-01",
            )
            until(
                store,
                "customer_id:C-2",
                _has([("[4]", "CC-2", Decimal("100.00"), Decimal("0.00"), "open")]),
                "an insert after the corrupt record",
            )
            letters = Pipeline(configured, "", store).dead_letters(1)
            assert [dict(m.headers)["c360.reason"] for m in letters] == [b"decode"]
            assert letters[0].value == b'{"op": "c", "after": '

            # Each source change recorded once although the kill -9 may have re-delivered some: upserts
            # are 2 snapshot reads, 3 holding inserts, 2 interaction rows and 3 updates.
            ops = store.events.aggregate(
                [{"$match": {"change": {"$ne": None}}}, {"$sortByCount": "$change.op"}]
            )
            recorded = store.events.find(
                {"change": {"$ne": None}}, {"change.op": 1, "change.key": 1, "change.position": 1}
            ).sort("change.position", 1)
            assert {d["_id"]: d["count"] for d in ops} == {"upsert": 10, "delete": 1, "truncate": 1}, [
                (d["change"]["op"], d["change"]["key"], d["change"]["position"]) for d in recorded
            ]
    finally:
        connector.stop(signal.SIGKILL)
        source.close()
        store.client.close()
    print(f"source change to profile, seconds: {sorted(round(x, 3) for x in latencies)}")
    assert max(latencies) < 10
