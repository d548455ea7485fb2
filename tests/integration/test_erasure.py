"""Erasing a person on a genuine MongoDB: nothing of them is left in any collection, the people who
shared a cookie with them keep it, their replayed and later events are dropped, and an erasure racing
the writer still leaves nothing. Expected values come from the test's own event lists."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from bson import json_util
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from api.app import ApiServices, create_app
from api.auth import KeyRing
from c360.cli import app
from c360.identity_world import generate_identity_world
from c360.settings import Settings
from identity.matching.estimate import estimate
from identity.matching.schema import PERSON_SCHEMA
from ingest.events import CanonicalEvent, build_event
from operational import erasure as erasure_module
from operational.erasure import Eraser, PersonNotFound
from operational.identity_ops import IdentityEditor
from operational.match_store import MatchService
from operational.reads import ProfileReader
from operational.store import COLLECTIONS, Store
from operational.writer import ProfileWriter
from tests.held_keys import assert_held_keys_match_edges

pytestmark = pytest.mark.integration
T0 = datetime(2026, 6, 1, tzinfo=UTC)
ANN_EMAIL, ANN_PHONE, ANN_CARD, SHARED = "ann@x.com", "+447911123456", "C-ANN", "ck-family-laptop"
BOB_EMAIL = "bob@x.com"
# Every string that would betray Ann if it were left anywhere.
ANN_TRACES = (ANN_EMAIL, ANN_PHONE, ANN_CARD, "ck-ann-phone")
MATCHER = ("match_records", "review_items")


def ev(n: int, *ids: tuple[str, str], source: str = "shop") -> CanonicalEvent:
    return build_event(
        event_id=f"{source}-{n}", source=source, type="order", occurred_at=T0 + timedelta(hours=n),
        channel="web", identifiers=[{"type": t, "value": v} for t, v in ids], amount=Decimal(n) / 4,
    )  # fmt: skip


def ann_events() -> list[CanonicalEvent]:
    """Two of Ann's profiles (by card, by email) that a CRM contact carrying both merges."""
    by_card = [ev(n, ("customer_id", ANN_CARD), ("cookie", "ck-ann-phone")) for n in range(1, 5)]
    by_email = [ev(n, ("email", ANN_EMAIL), ("cookie", SHARED)) for n in range(5, 9)]
    bridge = [ev(9, ("customer_id", ANN_CARD), ("email", ANN_EMAIL), ("phone", ANN_PHONE), source="crm")]
    return by_card + by_email + bridge


def bob_events() -> list[CanonicalEvent]:
    return [ev(n, ("email", BOB_EMAIL), ("cookie", SHARED)) for n in range(20, 26)]


def everything(store: Store) -> str:
    """Every document of every c360 collection (and the matcher's), as one Extended JSON text."""
    raw = store.client.get_database(store.db.name)  # BSON types as they are, which json_util writes
    return json_util.dumps({name: list(raw[name].find()) for name in (*COLLECTIONS, *MATCHER)})


def seeded(store: Store) -> tuple[str, str, str]:
    """Ann's live profile, her merged-away one and Bob's, with a match record, a review item and a CDC row
    for each side, shaped as the matcher and the writer store them."""
    writer, reader = ProfileWriter(store), ProfileReader(store)
    writer.apply(ann_events()[:8] + bob_events())
    card_id = reader.lookup("customer_id", ANN_CARD)["_id"]
    writer.apply(ann_events()[8:])
    ann, bob = reader.lookup("email", ANN_EMAIL)["_id"], reader.lookup("email", BOB_EMAIL)["_id"]
    merged_away = card_id if card_id != ann else store.profiles.find_one({"merged_into": ann})["_id"]
    for who, name in ((ann, "ann"), (bob, "bob")):
        store.db["match_records"].insert_one(
            {"_id": f"rec-{name}", "profile_id": who, "keys": [f"n:{name}"], "record": {"first_name": name}}
        )
        store.cdc_rows.insert_one(
            {"_id": f"row-{name}", "profile_id": who, "table": "accounts", "deleted": False}
        )
    store.db["review_items"].insert_one(
        {"_id": "review:rec-x", "profile_id": bob, "candidate_profile": merged_away, "status": "pending"}
    )
    return ann, merged_away, bob


def test_erasure_leaves_nothing_of_the_person_and_the_others_untouched(store: Store) -> None:
    ann, merged_away, bob = seeded(store)
    assert ann != merged_away and all(trace in everything(store) for trace in ANN_TRACES)
    bob_before = store.profiles.find_one({"_id": bob})

    erasure = Eraser(store).erase(merged_away, requested_by="dpo", reason="DSR-1")  # a redirect names Ann

    assert erasure.profile_id == ann and sorted(erasure.profiles) == sorted([ann, merged_away])
    assert erasure.keys_suppressed == 4  # her card, email, phone and own cookie; the laptop stays Bob's
    assert erasure.keys_released == 1
    assert erasure.deleted["profiles"] == 2 and erasure.deleted["events"] == len(ann_events())
    assert erasure.deleted["identities"] == 4 and erasure.deleted["identity_events"] == 1
    assert (
        erasure.deleted["match_records"]
        == erasure.deleted["cdc_rows"]
        == erasure.deleted["review_items"]
        == 1
    )
    left = everything(store)
    assert not [trace for trace in ANN_TRACES if trace in left]
    assert_only_in_the_record(store, [ann, merged_away])
    assert not [e for e in ann_events() if f'"{e.event_id}"' in left]

    bob_events_left = sorted(d["_id"] for d in store.events.find({"profile_id": bob}))
    assert bob_events_left == sorted(e.event_id for e in bob_events())
    laptop = store.identities.find_one({"_id": f"cookie:{SHARED}"})
    assert laptop["profile_id"] == bob and laptop["profiles"] == [bob] and laptop["origin"] == bob
    bob_after = store.profiles.find_one({"_id": bob})
    assert bob_after["event_count"] == len(bob_events()) == bob_before["event_count"]
    assert f"cookie:{SHARED}" in bob_after["identity_keys"]
    assert store.db["match_records"].count_documents({"profile_id": bob}) == 1
    assert store.cdc_rows.count_documents({"profile_id": bob}) == 1
    assert assert_held_keys_match_edges(store) == 2  # Bob's email and the laptop

    record = store.db["erasures"].find_one({"_id": erasure.erasure_id})
    assert (
        record["requested_by"] == "dpo"
        and record["reason"] == "DSR-1"
        and record["deleted"] == erasure.deleted
    )
    with pytest.raises(PersonNotFound):
        Eraser(store).erase(ann, requested_by="dpo", reason="again")


def assert_only_in_the_record(store: Store, profile_ids: list[str]) -> None:
    """Her profile ids may stay in the erasure record (for the audit), and nowhere else."""
    raw = store.client.get_database(store.db.name)
    for name in (*COLLECTIONS, *MATCHER):
        text = json_util.dumps(list(raw[name].find()))
        assert name == "erasures" or not [pid for pid in profile_ids if pid in text], name


class Stopped(Exception):
    """The erasing process dies here."""


def test_a_heavy_customer_is_swept_in_chunks_and_a_stopped_sweep_is_finished_by_the_next_erasure(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    ann, _, bob = seeded(store)
    many = [ev(n, ("email", ANN_EMAIL)) for n in range(100, 230)]
    ProfileWriter(store).apply(many)
    monkeypatch.setattr(erasure_module, "SWEEP_CHUNK", 50)
    sweep = Eraser._sweep

    def die(self: Eraser, record: dict) -> None:
        raise Stopped

    monkeypatch.setattr(Eraser, "_sweep", die)
    with pytest.raises(Stopped):
        Eraser(store).erase(ann, requested_by="dpo", reason="DSR-6")
    # Detached, not yet swept: nobody can reach her, her events wait for the next erasure.
    assert (
        store.profiles.find_one({"_id": ann}) is None
        and ProfileReader(store).lookup("email", ANN_EMAIL) is None
    )
    assert store.events.count_documents({"profile_id": ann}) == len(ann_events()) + len(many)
    assert store.db["erasures"].find_one({"pending": True})["profile_id"] == ann

    monkeypatch.setattr(Eraser, "_sweep", sweep)
    Eraser(store).erase(bob, requested_by="dpo", reason="DSR-7")

    assert not [trace for trace in ANN_TRACES if trace in everything(store)]
    assert (
        store.events.count_documents({}) == 0 and store.db["erasures"].count_documents({"pending": True}) == 0
    )
    record = store.db["erasures"].find_one({"profile_id": ann})
    assert (
        record["deleted"]["events"] == len(ann_events()) + len(many)
        and record["deleted"]["match_records"] == 1
    )


def test_a_shared_cookie_passes_to_the_live_profile_of_its_next_user(store: Store) -> None:
    """Ann owns a cookie Dave's first profile also used; that profile was merged by hand into his second
    since, which leaves its id in the cookie's list. The cookie must pass to the live one."""
    writer, reader = ProfileWriter(store), ProfileReader(store)
    writer.apply([ev(40, ("email", ANN_EMAIL), ("cookie", "ck-kiosk"))])
    writer.apply([ev(41, ("email", "dave@x.com"), ("cookie", "ck-kiosk"))])
    writer.apply([ev(42, ("customer_id", "C-DAVE"))])
    first, second = reader.lookup("email", "dave@x.com")["_id"], reader.lookup("customer_id", "C-DAVE")["_id"]
    IdentityEditor(store).merge(second, first, {"rule": "manual merge", "reason": "same man"})
    assert store.identities.find_one({"_id": "cookie:ck-kiosk"})["profiles"][-1] == first

    erasure = Eraser(store).erase(
        reader.lookup("email", ANN_EMAIL)["_id"], requested_by="dpo", reason="DSR-5"
    )

    assert (erasure.keys_suppressed, erasure.keys_released) == (1, 1)
    kiosk = store.identities.find_one({"_id": "cookie:ck-kiosk"})
    assert (
        kiosk["profile_id"] == second and kiosk["origin"] == second and kiosk["profiles"] == [first, second]
    )
    assert reader.lookup("cookie", "ck-kiosk")["_id"] == second
    assert assert_held_keys_match_edges(store) == 3  # Dave's email, customer id and the cookie


def test_replayed_and_later_events_of_an_erased_person_are_dropped(store: Store) -> None:
    ann, _, bob = seeded(store)
    Eraser(store).erase(ann, requested_by="dpo", reason="DSR-2")
    writer, reader = ProfileWriter(store), ProfileReader(store)
    later = [
        ev(30, ("email", "  ANN@x.com ")),  # normalized at ingest like any other
        ev(31, ("phone", ANN_PHONE), ("cookie", SHARED)),  # with a cookie Bob uses: still hers
        ev(32, ("email", BOB_EMAIL)),
    ]
    result = writer.apply(ann_events() + later)
    assert (result.applied, result.suppressed, result.duplicates) == (1, len(ann_events()) + 2, 0)
    assert reader.lookup("email", ANN_EMAIL) is None and reader.lookup("phone", ANN_PHONE) is None
    assert not [trace for trace in ANN_TRACES if trace in everything(store)]
    assert store.profiles.find_one({"_id": bob})["event_count"] == len(bob_events()) + 1


def test_an_erasure_racing_the_writer_still_leaves_nothing(store: Store) -> None:
    ann, _, _ = seeded(store)
    writer, failures, done = ProfileWriter(store), [], threading.Event()
    suppressed = 0

    def keep_writing() -> None:
        nonlocal suppressed
        n = 100
        try:
            while not done.is_set():
                batch = [ev(n + i, ("email", ANN_EMAIL), ("phone", ANN_PHONE)) for i in range(5)]
                suppressed += writer.apply(batch).suppressed
                n += 5
        except Exception as exc:  # the test reports it
            failures.append(exc)

    thread = threading.Thread(target=keep_writing)
    thread.start()
    try:
        done.wait(0.5)
        Eraser(store).erase(ann, requested_by="dpo", reason="DSR-3")
        done.wait(0.5)
    finally:
        done.set()
        thread.join(30)
    assert not failures and not thread.is_alive()
    assert suppressed > 0  # the writer went on after the erasure, and was stopped by it
    assert not [trace for trace in ANN_TRACES if trace in everything(store)]


def test_the_api_erases_for_admins_only(store: Store) -> None:
    ann, _, bob = seeded(store)
    keys = KeyRing(
        [("agent", "k-r", "reader", True), ("steward", "k-w", "writer", True), ("dpo", "k-a", "admin", True)]
    )
    with TestClient(create_app(store, ApiServices(keys))) as client:
        url = f"/profiles/{ann}"
        assert client.delete(url, params={"reason": "x"}).status_code == 401
        for key in ("k-r", "k-w"):
            assert client.delete(url, params={"reason": "x"}, headers={"X-API-Key": key}).status_code == 403
        admin = {"X-API-Key": "k-a", "X-C360-Actor": "jo"}
        assert client.delete(url, headers=admin).status_code == 422  # a reason is required
        assert client.delete(url, params={"reason": "x", "$where": "1"}, headers=admin).status_code == 200
        assert client.get(url, headers=admin).status_code == 404
        assert client.delete(url, params={"reason": "x"}, headers=admin).status_code == 404
        assert client.get(f"/profiles/{bob}", headers=admin).status_code == 200
    record = store.db["erasures"].find_one({"profile_id": ann})
    assert (record["requested_by"], record["on_behalf_of"]) == ("dpo", "jo")  # the key, and its person


def test_the_command_finds_the_person_by_identifier(
    settings: Settings, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    ann, _, bob = seeded(store)
    monkeypatch.setenv("C360_MONGO__URI", settings.mongo.uri)
    monkeypatch.setenv("C360_MONGO__DATABASE", store.db.name)
    runner = CliRunner()
    refused = runner.invoke(app, ["erase", "--identifier", "shoe:1", "--reason", "DSR-4", "--yes"])
    assert refused.exit_code == 2 and "unknown identifier type 'shoe'" in refused.output
    assert runner.invoke(app, ["erase", ann]).exit_code == 2  # no reason given
    shared = runner.invoke(app, ["erase", "--identifier", f"cookie:{SHARED}", "--reason", "DSR-4", "--yes"])
    assert shared.exit_code == 2 and "can be shared by several people" in " ".join(
        shared.output.replace("│", " ").split()
    )
    kept = runner.invoke(
        app, ["erase", "--identifier", f"email:{ANN_EMAIL.upper()}", "--reason", "DSR-4"], input="n\n"
    )
    assert kept.exit_code == 1 and store.profiles.find_one({"_id": ann}) is not None
    result = runner.invoke(
        app, ["erase", "--identifier", f"email:{ANN_EMAIL.upper()}", "--reason", "DSR-4", "--yes"]
    )
    assert result.exit_code == 0, result.output
    said = " ".join(result.output.split())
    assert f"erased {ann} (2 profiles)" in said and "4 identifiers suppressed; 1 shared" in said
    assert store.profiles.find_one({"_id": ann}) is None and store.profiles.find_one({"_id": bob}) is not None
    gone = runner.invoke(app, ["erase", "--identifier", f"email:{ANN_EMAIL}", "--reason", "DSR-4", "--yes"])
    assert gone.exit_code == 1 and "no profile holds" in gone.output


def test_the_matcher_forgets_what_it_wrote_for_events_erased_while_it_matched(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Matching runs after the writer's commit, outside any transaction: an erasure can land between its
    read of the events and its writes, and would then miss the record and review item written after."""
    model = estimate(list(generate_identity_world(120, seed=3).records.values()), PERSON_SCHEMA)
    matcher = MatchService(store, model, join_weight=1_000, review_weight=-1_000)  # everything is grey
    matcher.ensure_indexes()
    ProfileWriter(store).apply(
        [ev(1, ("customer_id", "C1"), source="crm"), ev(2, ("loyalty_id", "L1"), source="pos")]
    )
    reader = ProfileReader(store)
    cust, loyal = reader.lookup("customer_id", "C1")["_id"], reader.lookup("loyalty_id", "L1")["_id"]
    person = {"first_name": "ann", "last_name": "smith", "date_of_birth": "19800101", "city": "york"}
    matcher.match([("crm-1", cust, person)])  # the customer's record, indexed
    match = MatchService.match

    def erased_meanwhile(self: MatchService, items: list) -> list:
        Eraser(store).erase(loyal, requested_by="dpo", reason="DSR-8")
        return match(self, items)

    monkeypatch.setattr(MatchService, "match", erased_meanwhile)
    outcomes = matcher.match_events({"pos-2": person | {"first_name": "anne"}})

    assert [o.decision.outcome for o in outcomes] == ["review"]  # written, then forgotten
    assert store.db["match_records"].find_one({"_id": "pos-2"}) is None
    assert store.db["review_items"].count_documents({}) == 0
    assert store.db["match_records"].find_one({"_id": "crm-1"})["profile_id"] == cust
