"""Identity operations always leave readable profiles: split, merge, re-split, review accept and erasure,
then every profile id ever issued and every identifier ever seen is read through the API with 200 (or
404 for what was erased), on a genuine MongoDB."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from ingest.events import CanonicalEvent, build_event
from operational.reads import ProfileReader
from operational.reviews import ReviewQueue
from operational.store import Store
from operational.writer import ProfileWriter

pytestmark = pytest.mark.integration
T0 = datetime(2026, 5, 1, tzinfo=UTC)
IDENTIFIERS = {
    "phone": "+447911123456",
    "email": "ann@shop.co.uk",
    "loyalty_id": "L-77",
    "account_id": "ACC-9",
}


def ev(n: int, *kinds: str) -> CanonicalEvent:
    return build_event(
        event_id=f"e{n}",
        source="test",
        type="order",
        occurred_at=T0 + timedelta(hours=n),
        channel="store",
        identifiers=[{"type": k, "value": IDENTIFIERS[k]} for k in kinds],
        amount=Decimal("1.25") * n,
    )


def test_split_merge_resplit_every_profile_and_identifier_reads_200(store: Store) -> None:
    writer, reader = ProfileWriter(store), ProfileReader(store)
    writer.apply([ev(1, "phone")])
    writer.apply([ev(2, "email")])
    writer.apply([ev(3, "loyalty_id")])
    writer.apply([ev(4, "account_id")])
    ids = {k: reader.lookup(k, v)["_id"] for k, v in IDENTIFIERS.items()}
    # The writer merges the email's profile into the phone's: a redirect {_id, merged_into, merged_at}.
    writer.apply([ev(5, "phone", "email")])
    phone, email, loyalty, account = ids["phone"], ids["email"], ids["loyalty_id"], ids["account_id"]
    assert set(store.profiles.find_one({"_id": email})) == {"_id", "merged_into", "merged_at"}
    with TestClient(create_app(store)) as client:

        def change(action: str, survivor: str, other: str, expected: int = 200) -> None:
            field = "other" if action == "merge" else "merged"
            body = {field: other, "reason": f"{action} {other}"}
            response = client.post(f"/profiles/{survivor}/{action}", json=body)
            assert response.status_code == expected, response.text

        def all_readable() -> None:
            for profile_id in ids.values():
                response = client.get(f"/profiles/{profile_id}")
                assert response.status_code == 200, (profile_id, response.text)
                assert response.json()["requested_id"] == profile_id
                for path in ("events", "timeline", "identity"):
                    assert client.get(f"/profiles/{profile_id}/{path}").status_code == 200, path
            for kind, value in IDENTIFIERS.items():
                response = client.get("/profiles/lookup", params={"type": kind, "value": value})
                assert response.status_code == 200, (kind, response.text)

        change("split", phone, email)  # undo the writer's merge: the redirect becomes a profile again
        all_readable()
        split_off = store.profiles.find_one({"_id": email})
        first_ingested = store.events.find_one({"_id": "e2"})["ingested_at"]
        assert split_off["created_at"] == first_ingested  # when the writer created it
        change("merge", phone, email)
        change("merge", phone, loyalty)
        change("merge", account, phone)  # a family of three folds into a fourth
        all_readable()
        assert client.get(f"/profiles/{email}").json()["id"] == account
        change("split", account, phone)  # the phone comes back with what was folded into it
        change("split", phone, loyalty)
        change("split", phone, email)
        all_readable()
        for profile_id, n in ((phone, 2), (email, 1), (loyalty, 1), (account, 1)):  # e5 landed on the phone
            body = client.get(f"/profiles/{profile_id}").json()
            assert body["id"] == profile_id and body["event_count"] == n, body
        change("merge", phone, "p" + "f" * 20, expected=404)
        change("split", phone, "p" + "e" * 20, expected=404)
        change("merge", "p" + "d" * 20, phone, expected=404)
        missing = client.post(f"/profiles/{phone}/merge", json={"other": "p" + "f" * 20, "reason": "x"})
        assert missing.json() == {"detail": f"profile {'p' + 'f' * 20} not found"}


def test_review_accept_and_erasure_leave_readable_profiles(store: Store) -> None:
    writer, reader = ProfileWriter(store), ProfileReader(store)
    writer.apply([ev(1, "phone"), ev(2, "email"), ev(3, "loyalty_id")])
    ids = {k: reader.lookup(k, v)["_id"] for k, v in IDENTIFIERS.items() if k != "account_id"}
    queue = ReviewQueue(store)
    queue.open("e2", ids["email"], ids["phone"], {"weight": 5.0, "vector": [1, 2]})
    queue.open("e3", ids["loyalty_id"], None, {"weight": 3.0, "vector": [1]})  # no candidate profile
    with TestClient(create_app(store)) as client:
        assert client.post("/identity/reviews/review:e2/accept").status_code == 200
        refused = client.post("/identity/reviews/review:e3/accept")
        assert refused.status_code == 409 and "no candidate" in refused.json()["detail"]
        for profile_id in ids.values():
            assert client.get(f"/profiles/{profile_id}").status_code == 200
        assert client.delete(f"/profiles/{ids['phone']}", params={"reason": "DSR-1"}).status_code == 200
        for kind in ("phone", "email"):  # erased with the person, the merged-away profile too
            assert client.get(f"/profiles/{ids[kind]}").status_code == 404
            lookup = client.get("/profiles/lookup", params={"type": kind, "value": IDENTIFIERS[kind]})
            assert lookup.status_code == 404
        assert client.get(f"/profiles/{ids['loyalty_id']}").status_code == 200
        gone = client.post(
            f"/profiles/{ids['loyalty_id']}/merge", json={"other": ids["phone"], "reason": "x"}
        )
        assert gone.status_code == 404  # merging with an erased profile: not found, not a conflict
