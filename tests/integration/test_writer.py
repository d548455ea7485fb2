"""The profile writer against a genuine MongoDB replica set: merges, redirects, idempotence, exact money,
and two writers racing on the same person."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from pymongo import MongoClient

from c360.settings import Settings
from ingest.events import CanonicalEvent, build_event
from operational.reads import ProfileReader
from operational.store import Store
from operational.writer import TRANSACTION_EVENTS, ProfileWriter
from tests.held_keys import assert_held_keys_match_edges

pytestmark = pytest.mark.integration
T0 = datetime(2026, 5, 1, tzinfo=UTC)


def ev(n: int, *ids: tuple[str, str], amount: str | None = None, type_: str = "order") -> CanonicalEvent:
    return build_event(
        event_id=f"e{n}",
        source="test",
        type=type_,
        occurred_at=T0 + timedelta(minutes=n),
        channel="store",
        identifiers=[{"type": t, "value": v} for t, v in ids],
        amount=None if amount is None else Decimal(amount),
    )


@pytest.fixture
def store(settings: Settings, fresh_db: str) -> Store:
    client = MongoClient(settings.mongo.uri, tz_aware=True)
    store = Store.connect(client, fresh_db)
    store.ensure_indexes()
    return store


def test_merge_across_batches_keeps_oldest_id_and_redirects(store: Store) -> None:
    writer = ProfileWriter(store)
    writer.apply([ev(1, ("email", "old@shop.com"), amount="10.01")])
    writer.apply([ev(5, ("loyalty_id", "ck1"), amount="0.02"), ev(6, ("phone", "+447911123456"))])
    reader = ProfileReader(store)
    old_id = reader.lookup("email", "old@shop.com")["_id"]
    cookie_id = reader.lookup("loyalty_id", "ck1")["_id"]
    phone_id = reader.lookup("phone", "07911 123456")["_id"]
    assert len({old_id, cookie_id, phone_id}) == 3

    result = writer.apply(
        [
            ev(7, ("loyalty_id", "ck1"), ("email", "OLD@shop.com")),
            ev(8, ("phone", "+447911123456"), ("loyalty_id", "ck1"), amount="100"),
        ]
    )
    assert result.merges == 2
    survivor = reader.get(cookie_id)
    assert survivor is not None and survivor["_id"] == old_id
    assert reader.get(phone_id)["_id"] == old_id
    assert survivor["event_count"] == 5
    assert survivor["stats"]["order"] == {"count": 5, "amount": Decimal("110.03")}
    assert survivor["first_seen"] == T0 + timedelta(minutes=1)
    assert survivor["last_seen"] == T0 + timedelta(minutes=8)
    assert sorted(survivor["merged_from"]) == sorted([cookie_id, phone_id])
    assert store.identities.count_documents({"profile_id": old_id}) == 3
    assert survivor["identity_keys"] == ["email:old@shop.com", "loyalty_id:ck1", "phone:+447911123456"]
    assert assert_held_keys_match_edges(store) == 3
    assert store.events.count_documents({"profile_id": old_id}) == 5
    evidence = store.identity_events.find_one({"merged": cookie_id})
    assert evidence["survivor"] == old_id and evidence["evidence"][0]["event_id"] in {"e7", "e8"}


def test_redirect_chain_collapses_when_survivor_is_merged_again(store: Store) -> None:
    writer = ProfileWriter(store)
    writer.apply([ev(3, ("loyalty_id", "a"))])
    writer.apply([ev(2, ("loyalty_id", "b"))])
    writer.apply([ev(1, ("loyalty_id", "c"))])
    reader = ProfileReader(store)
    a, b, c = (reader.lookup("loyalty_id", x)["_id"] for x in "abc")
    writer.apply([ev(4, ("loyalty_id", "a"), ("loyalty_id", "b"))])  # a into b (b is older)
    writer.apply([ev(5, ("loyalty_id", "b"), ("loyalty_id", "c"))])  # b into c
    assert store.profiles.find_one({"_id": a})["merged_into"] == c
    assert store.profiles.find_one({"_id": b})["merged_into"] == c
    assert reader.get(a)["_id"] == c
    assert reader.get(c)["event_count"] == 5
    assert reader.get(c)["identity_keys"] == ["loyalty_id:a", "loyalty_id:b", "loyalty_id:c"]
    assert assert_held_keys_match_edges(store) == 3


def test_applying_twice_changes_nothing(store: Store) -> None:
    writer = ProfileWriter(store)
    batch = [ev(1, ("email", "x@y.com"), amount="1.10"), ev(2, ("email", "x@y.com"), amount="2.20")]
    first = writer.apply(batch + batch[:1])
    before = list(store.profiles.find())
    again = writer.apply(batch)
    assert (first.applied, first.duplicates) == (2, 1)
    assert (again.applied, again.duplicates) == (0, 2)
    assert list(store.profiles.find()) == before


def test_two_writers_racing_on_one_person_converge_and_lose_nothing(store: Store, settings: Settings) -> None:
    """Each thread owns a client, as separate processes would; their events stitch one person."""
    batches = [
        [
            ev(i, ("cookie", f"ck{i % 7}"), ("email", "race@shop.com"), amount="1.00")
            for i in range(0, 400, 2)
        ],
        [ev(i, ("cookie", f"ck{i % 7}"), ("phone", "+447911123456"), amount="1.00") for i in range(1, 400, 2)]
        + [ev(1000, ("email", "race@shop.com"), ("phone", "+447911123456"))],
    ]
    errors: list[BaseException] = []

    def write(events: list[CanonicalEvent]) -> None:
        client = MongoClient(settings.mongo.uri, tz_aware=True)
        writer = ProfileWriter(Store.connect(client, store.db.name))
        try:
            for k in range(0, len(events), 20):
                writer.apply(events[k : k + 20])
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)
        finally:
            client.close()

    threads = [threading.Thread(target=write, args=(b,)) for b in batches]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    live = list(store.profiles.find({"merged_into": {"$exists": False}}))
    assert len(live) == 1
    assert live[0]["event_count"] == 401
    assert live[0]["stats"]["order"] == {"count": 401, "amount": Decimal("400.00")}
    assert store.events.count_documents({}) == 401
    assert store.identities.count_documents({"profile_id": {"$ne": live[0]["_id"]}}) == 0
    assert assert_held_keys_match_edges(store) == 9  # 7 cookies, the email and the phone


def test_every_query_of_a_merge_batch_uses_an_index(store: Store) -> None:
    """A collection scan inside the batch's transaction costs a whole collection per merge: at 100k people
    one unindexed query (shared keys by `profiles`) slowed ingest below 1,000 events/s."""
    writer = ProfileWriter(store)
    writer.apply([ev(1, ("email", "a@shop.com"), ("cookie", "ck-a")), ev(2, ("phone", "+447911123456"))])
    store.db.command("profile", 2)
    try:
        result = writer.apply([ev(3, ("email", "a@shop.com"), ("phone", "+447911123456"))])
    finally:
        store.db.command("profile", 0)
    assert result.merges == 1
    ops = list(
        store.db["system.profile"].find({"ns": {"$regex": r"\.(profiles|identities|events|cdc_rows)$"}})
    )
    assert any(op.get("op") == "update" for op in ops), ops  # the profiler saw the merge's statements
    scans = [
        (op["ns"], op.get("command", {}).get("q", op.get("command")))
        for op in ops
        if "COLLSCAN" in op.get("planSummary", "")
    ]
    assert scans == []


def test_a_large_batch_commits_in_transactions_of_bounded_size(store: Store) -> None:
    """One transaction for 2,000 events outgrew WiredTiger's cache and hung mongod; the writer commits a
    batch in parts of TRANSACTION_EVENTS, in order, and the people in it still end up on one profile each."""
    people = 300
    events = [
        ev(n, ("email", f"p{n % people}@x.com"), amount="1.00") for n in range(2 * TRANSACTION_EVENTS + 1)
    ]
    committed = store.client.admin.command("serverStatus")["transactions"]["totalCommitted"]
    result = ProfileWriter(store).apply(events)
    assert store.client.admin.command("serverStatus")["transactions"]["totalCommitted"] - committed == 3
    assert (result.applied, result.duplicates, result.merges) == (len(events), 0, 0)
    live = list(store.profiles.find({"merged_into": {"$exists": False}}))
    assert len(live) == people
    assert sum(p["event_count"] for p in live) == len(events)
    assert assert_held_keys_match_edges(store) == people
