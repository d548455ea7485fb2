"""Live MongoDB CDC: a real Debezium MongoDB connector captures a retail database (its own database in
the suite's mongod) through `c360 connect`; profiles follow users and orders, an order's deletion
removes it from the purchase stats, and a restart resumes with changes made while it was down."""

from __future__ import annotations

import signal
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from bson.decimal128 import Decimal128
from pymongo import MongoClient

from c360.settings import Settings
from tests.e2e.cdc_support import live_cdc, running_ingest, until

pytestmark = pytest.mark.e2e
DAY = datetime(2026, 2, 3, 10, 0, tzinfo=UTC)


def _orders(doc: dict[str, Any]) -> dict[str, tuple[int, Decimal, int]]:
    """(count, exact amount, line items) per order table, as the profile shows them."""
    return {t: (s["count"], s["amount"], s["items"]) for t, s in doc["cdc"]["orders"].items()}


def _is(expected: dict[str, tuple[int, Decimal, int]]) -> Callable[[dict[str, Any]], bool]:
    return lambda doc: "cdc" in doc and _orders(doc) == expected


def test_mongodb_changes_reach_profiles(
    settings: Settings,
    mongo_client: MongoClient,
    fresh_db: str,
    unique_name: Callable[[str], str],
    tmp_path: Path,
) -> None:
    retail = f"retail_{uuid.uuid4().hex[:10]}"  # the source database, and the topic prefix
    source = mongo_client[retail]
    source.users.insert_one(
        {"_id": "R-7", "first_name": "Ann", "last_name": "Lee", "gender": "F", "email": "Ann@Example.com",
         "date_of_birth": datetime(1980, 5, 1, tzinfo=UTC), "address": {"city": "Leeds", "postcode": "LS1"}}
    )  # fmt: skip

    live = live_cdc(
        settings,
        fresh_db,
        unique_name,
        tmp_path,
        {"retail.retail": f"{retail}.{retail}", "crm": retail},
        retail,
        {
            "connector.class": "io.debezium.connector.mongodb.MongoDbConnector",
            "mongodb.connection.string": settings.mongo.uri,
            "topic.prefix": retail,
            "collection.include.list": f"{retail}.users,{retail}.online_orders,{retail}.store_orders",
        },
    )
    configured, store, connector = live.settings, live.store, live.connector
    latencies: list[float] = []
    try:
        with running_ingest(configured, live.topics):
            connector.start()
            person = {"first_name": "Ann", "last_name": "Lee", "gender": "F", "date_of_birth": "1980-05-01",
                      "address": {"city": "Leeds", "postcode": "LS1"}}  # fmt: skip
            until(store, "account_id:R-7", lambda d: d.get("cdc", {}).get("person") == person, "the snapshot")
            until(store, "email:ann@example.com", lambda d: d.get("cdc", {}).get("person") == person, "email")

            items = [{"sku": "A", "qty": 2, "price": Decimal128("4.50")}, {"sku": "B", "qty": 1}]
            source.online_orders.insert_one(
                {
                    "_id": "O-1",
                    "user_id": "R-7",
                    "total": Decimal128("19.99"),
                    "ordered_at": DAY,
                    "items": items,
                }
            )
            online = (1, Decimal("19.99"), 2)
            latencies.append(until(store, "account_id:R-7", _is({"online_orders": online}), "an order"))

            source.store_orders.insert_one(
                {"_id": "S-1", "user_id": "R-7", "total": Decimal128("5.01"), "ordered_at": DAY,
                 "lines": [{}], "store": "LDN"}
            )  # fmt: skip
            both = {"online_orders": online, "store_orders": (1, Decimal("5.01"), 1)}
            latencies.append(until(store, "account_id:R-7", _is(both), "an in-store order"))

            source.online_orders.update_one({"_id": "O-1"}, {"$set": {"total": Decimal128("21.00")}})
            both["online_orders"] = (1, Decimal("21.00"), 2)
            latencies.append(until(store, "account_id:R-7", _is(both), "an order update"))

            source.users.update_one({"_id": "R-7"}, {"$set": {"last_name": "Lee-Smith"}})
            latencies.append(
                until(
                    store,
                    "account_id:R-7",
                    lambda d: d["cdc"]["person"]["last_name"] == "Lee-Smith",
                    "a rename",
                )
            )

            source.online_orders.delete_one({"_id": "O-1"})
            del both["online_orders"]
            latencies.append(until(store, "account_id:R-7", _is(both), "an order deletion"))

            assert connector.stop(signal.SIGTERM) == 0  # a clean exit, its offsets committed
            source.online_orders.insert_one(
                {"_id": "O-2", "user_id": "R-7", "total": Decimal128("0.30"), "ordered_at": DAY, "items": []}
            )
            connector.start()
            both["online_orders"] = (1, Decimal("0.30"), 0)
            until(store, "account_id:R-7", _is(both), "the order placed while the connector was stopped")

            ops = store.events.aggregate(
                [{"$match": {"change": {"$ne": None}}}, {"$sortByCount": "$change.op"}]
            )
            # upserts: the snapshot read, 3 inserts, 2 updates; one delete; each once
            assert {d["_id"]: d["count"] for d in ops} == {"upsert": 6, "delete": 1}
    finally:
        connector.stop(signal.SIGKILL)
        mongo_client.drop_database(retail)
        store.client.close()
    print(f"source change to profile, seconds: {sorted(round(x, 3) for x in latencies)}")
    assert max(latencies) < 10
