"""The identity endpoints over a genuine MongoDB: the explained graph, merge, split, the review queue,
and refusals as 4xx."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from c360.identity_world import generate_identity_world
from identity.matching.estimate import estimate
from identity.matching.schema import PERSON_SCHEMA
from ingest.events import build_event
from operational.match_store import MatchService
from operational.reads import ProfileReader
from operational.store import Store
from operational.writer import ProfileWriter

pytestmark = pytest.mark.integration
T0 = datetime(2026, 6, 1, tzinfo=UTC)
ANN = {"first_name": "ann", "last_name": "smith", "date_of_birth": "19800101", "street": "1 high street",
       "city": "york", "postcode": "Y1 1AB"}  # fmt: skip


def ev(n: int, source: str, *ids: tuple[str, str], amount: str = "1.00"):
    return build_event(
        event_id=f"e{n}", source=source, type="order", occurred_at=T0 + timedelta(hours=n), channel="store",
        identifiers=[{"type": t, "value": v} for t, v in ids], amount=Decimal(amount),
    )  # fmt: skip


def test_graph_merge_split_and_refusals(store: Store) -> None:
    writer, reader = ProfileWriter(store), ProfileReader(store)
    writer.apply([ev(1, "crm", ("email", "ann@x.com")), ev(2, "pos", ("loyalty_id", "L1"))])
    writer.apply([ev(3, "web", ("email", "ann@x.com"), ("cookie", "ck1"))])
    a, b = reader.lookup("email", "ann@x.com")["_id"], reader.lookup("loyalty_id", "L1")["_id"]
    client = TestClient(create_app(store))

    merged = client.post(
        f"/profiles/{a}/merge", json={"other": b, "reason": "same card"}, headers={"X-C360-Actor": "jo"}
    )
    assert merged.status_code == 200 and merged.json()["events_moved"] == 1
    graph = client.get(f"/profiles/{b}/identity").json()
    assert graph["profile_id"] == a and graph["merged_from"] == [b]
    email = next(i for i in graph["identifiers"] if i["type"] == "email")
    assert email["sources"] == ["crm", "web"] and email["events"] == 2
    assert email["first_seen"].startswith("2026-06-01T01:00") and email["last_seen"].startswith(
        "2026-06-01T03:00"
    )
    [merge] = graph["history"]
    assert merge["kind"] == "merge" and merge["evidence"][0] == {
        "rule": "manual merge",
        "reason": "same card",
        "actor": "development",  # the key's name (an open API's caller), whatever the header says
        "on_behalf_of": "jo",
    }

    assert client.post(f"/profiles/{a}/merge", json={"other": b, "reason": "again"}).status_code == 409
    assert client.post(f"/profiles/{a}/split", json={"merged": b, "reason": "wrong"}).status_code == 200
    assert reader.get(b)["_id"] == b and reader.get(b)["event_count"] == 1
    assert [h["kind"] for h in client.get(f"/profiles/{a}/identity").json()["history"]] == ["merge", "split"]
    assert client.post(f"/profiles/{a}/split", json={"merged": b, "reason": "x"}).status_code == 409
    assert client.post(f"/profiles/{a}/merge", json={"other": "nope", "reason": "x"}).status_code == 422
    assert client.get("/profiles/p00000000000000000000/identity").status_code == 404


def test_review_queue_accept_and_reject(store: Store) -> None:
    model = estimate(list(generate_identity_world(120, seed=3).records.values()), PERSON_SCHEMA)
    matcher = MatchService(store, model, join_weight=1_000, review_weight=-1_000)  # everything is grey
    matcher.ensure_indexes()
    writer, reader = ProfileWriter(store), ProfileReader(store)
    writer.apply(
        [
            ev(1, "crm", ("customer_id", "C1")),
            ev(2, "pos", ("loyalty_id", "L1")),
            ev(3, "pos", ("loyalty_id", "L2")),
        ]
    )
    profile = {
        eid: reader.lookup(t, v)["_id"]
        for eid, t, v in (("e1", "customer_id", "C1"), ("e2", "loyalty_id", "L1"), ("e3", "loyalty_id", "L2"))
    }
    matcher.match(
        [
            (eid, profile[eid], ANN | {"first_name": name})
            for eid, name in (("e1", "ann"), ("e2", "anne"), ("e3", "ann"))
        ]
    )
    client = TestClient(create_app(store))

    pending = client.get("/identity/reviews").json()
    assert {r["record_id"] for r in pending} == {"e2", "e3"}
    assert client.get(f"/profiles/{profile['e1']}/identity").json()["pending_reviews"]
    first, second = sorted(pending, key=lambda r: r["record_id"])
    assert client.post(f"/identity/reviews/{first['id']}/accept").status_code == 200
    assert reader.lookup("loyalty_id", "L1")["_id"] == profile["e1"]
    assert client.post(f"/identity/reviews/{second['id']}/reject").status_code == 204
    assert reader.lookup("loyalty_id", "L2")["_id"] == profile["e3"]
    assert client.post(f"/identity/reviews/{second['id']}/accept").status_code == 409
    assert client.post("/identity/reviews/review:nope/accept").status_code == 404
    assert client.get("/identity/reviews").json() == []
    assert [r["record_id"] for r in client.get("/identity/reviews?status=rejected").json()] == ["e3"]
