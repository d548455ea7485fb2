"""api/read_path.py answers GET /profiles/{id} and /profiles/lookup itself; FastAPI serving the same
declared routes is the oracle: every request here gets the same status, body and headers from both apps.

A merge makes one profile id a redirect, so the survivor path is covered too.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.app import ApiServices, create_app
from api.auth import KeyRing
from api.read_path import ProfileReadPath
from operational.store import Store

pytestmark = pytest.mark.integration
T0 = datetime(2026, 6, 1, 9, 30, tzinfo=UTC)
KEYS = {
    "reader": ("agent", "reader-key-0123456789", "reader", False),
    "pii": ("supervisor", "pii-reader-key-012345", "reader", True),
    "writer": ("zendesk", "writer-key-0123456789", "writer", False),
    "admin": ("ops", "admin-key-01234567890", "admin", False),
}
COMPARED_HEADERS = ("content-type", "content-length", "etag", "cache-control", "www-authenticate", "location")


@pytest.fixture
def store(stitched_store: Store) -> Store:
    return stitched_store


def _app(store: Store, fast: bool) -> FastAPI:
    services = ApiServices(KeyRing(KEYS.values()), clock=lambda: T0 + timedelta(days=3))  # type: ignore[arg-type]
    app = create_app(store, services)
    if not fast:  # the oracle: the same app with FastAPI routing and validating the two reads
        app.user_middleware = [m for m in app.user_middleware if m.cls is not ProfileReadPath]
    return app


def _requests(store: Store) -> list[tuple[str, str, dict[str, str]]]:
    merged = store.profiles.find_one({"merged_into": {"$exists": True}})
    assert merged is not None
    old, live = merged["_id"], merged["merged_into"]
    key = {role: {"X-API-Key": k[1]} for role, k in KEYS.items()}
    lookup = "/profiles/lookup?type=email&value=ann@shop.co.uk"
    requests = [("GET", f"/profiles/{pid}", key[role]) for pid in (old, live) for role in KEYS]
    requests += [("GET", lookup, key[role]) for role in KEYS]
    requests += [
        ("GET", f"/profiles/{live}", {}),
        ("GET", f"/profiles/{live}", {"X-API-Key": "not-a-key-at-all-1234"}),
        ("GET", "/profiles/x", {"X-API-Key": "not-a-key-at-all-1234"}),  # 401 before 422
        ("GET", "/profiles/lookup?type=nope", {}),
        ("HEAD", f"/profiles/{live}", key["pii"]),
        ("POST", f"/profiles/{live}", key["pii"]),
        ("GET", f"/profiles/{live}/", key["pii"]),
        ("GET", f"/profiles/{live}/events", key["pii"]),
        ("GET", "/profiles/search?q=ann", key["pii"]),
        ("GET", "/profiles/lookup/", key["pii"]),
        ("GET", "/profiles/p00000000000000000000", key["pii"]),  # well-formed, unknown: 404
    ]
    for bad in ("x", "P0123456789ABCDEF0123", live + "0", "%24where", "%7B%22%24gt%22%3A%22%22%7D", "p%00"):
        requests.append(("GET", f"/profiles/{bad}", key["pii"]))
    for query in (
        "type=phone&value=%2B44 7911 123456",
        "type=email&value=%20%20ANN%40Shop.co.uk%20",
        "type=email&value=nobody@shop.co.uk",
        "type=email&value=not an email",
        "type=phone&value=12",
        "type=shoe_size&value=9",
        "type=%24where&value=1",
        "type=email",
        "value=ann@shop.co.uk",
        "",
        "type=email&value=",
        "type=customer_id&value=" + "x" * 321,
        "type=customer_id&value=" + "x" * 320,
        "type=customer_id&value=%7B%22%24gt%22%3A%20%22%22%7D",
        "type=customer_id&value[$ne]=x",
        "type=phone&type=email&value=ann@shop.co.uk",
        "type=email&value=nobody@x.com&value=ann@shop.co.uk",
        "type=cookie&value=ck_9&extra=1",
    ):
        requests.append(("GET", f"/profiles/lookup?{query}", key["pii"]))
    return requests


def test_fast_reads_answer_as_fastapi_does(store: Store) -> None:
    with TestClient(_app(store, True)) as fast, TestClient(_app(store, False)) as oracle:
        statuses = _compare(store, fast, oracle)
    assert statuses >= {200, 304, 401, 404, 405, 422}  # the comparison covered every outcome


def _compare(store: Store, fast: TestClient, oracle: TestClient) -> set[int]:
    """Every request to both apps; the statuses seen."""
    statuses = set()
    for method, path, headers in _requests(store):
        got = fast.request(method, path, headers=headers, follow_redirects=False)
        want = oracle.request(method, path, headers=headers, follow_redirects=False)
        assert (got.status_code, got.content) == (want.status_code, want.content), (method, path, headers)
        assert {h: got.headers.get(h) for h in COMPARED_HEADERS} == {
            h: want.headers.get(h) for h in COMPARED_HEADERS
        }, (method, path)
        statuses.add(got.status_code)
        etag = got.headers.get("etag")
        if etag is not None:  # and the conditional read of the same path
            conditional = {**headers, "If-None-Match": f'"other", {etag}'}
            got, want = fast.get(path, headers=conditional), oracle.get(path, headers=conditional)
            assert (got.status_code, got.content, got.headers.get("etag")) == (
                want.status_code,
                want.content,
                want.headers.get("etag"),
            )
            statuses.add(got.status_code)
    return statuses


@pytest.fixture
def client(store: Store) -> Iterator[TestClient]:
    with TestClient(_app(store, True)) as client:
        yield client


def test_fast_reads_are_timed_under_their_route_template(store: Store, client: TestClient) -> None:
    live = store.profiles.find_one({"merged_into": {"$exists": False}})["_id"]  # type: ignore[index]
    pii = {"X-API-Key": KEYS["pii"][1]}

    def count(route: str, status: str) -> float:
        for line in client.get("/metrics").text.splitlines():
            if (
                line.startswith("c360_api_request_seconds_count{")
                and f'route="{route}",status="{status}"' in line
            ):
                return float(line.rsplit(" ", 1)[1])
        return 0.0

    before = count("/profiles/{profile_id}", "200"), count("/profiles/lookup", "422")
    assert client.get(f"/profiles/{live}", headers=pii).status_code == 200
    assert client.get("/profiles/lookup?type=email", headers=pii).status_code == 422
    after = count("/profiles/{profile_id}", "200"), count("/profiles/lookup", "422")
    assert (after[0] - before[0], after[1] - before[1]) == (1, 1)


def test_a_lookup_is_one_indexed_find_on_profiles(store: Store, client: TestClient) -> None:
    """The bar's mechanism (operational/held_keys.py): a held key is found by the profiles' own index,
    without reading identities; the answer is the profile the edge names."""
    holder = store.identities.find_one({"_id": "cookie:ck_9"})["profile_id"]  # type: ignore[index]
    store.db.command("profile", 2)
    try:
        body = client.get(
            "/profiles/lookup?type=cookie&value=ck_9", headers={"X-API-Key": KEYS["pii"][1]}
        ).json()
    finally:
        store.db.command("profile", 0)
    reads = [
        (op["ns"].split(".", 1)[1], op["op"], op.get("planSummary"))
        for op in store.db["system.profile"].find({"ns": {"$regex": r"\.(profiles|identities)$"}})
    ]
    assert reads == [("profiles", "query", "IXSCAN { identity_keys: 1 }")]
    assert body["id"] == holder


def test_lookup_of_a_key_no_profile_carries_follows_its_edge_to_the_survivor(
    store: Store, client: TestClient
) -> None:
    """Data written before profiles carried their keys: the edge decides the profile, and if it names a
    merged-away id the redirect is followed, as GET /profiles/{old id} does."""
    merged = store.profiles.find_one({"merged_into": {"$exists": True}})
    assert merged is not None
    uncopied = store.profiles.update_one(
        {"identity_keys": "cookie:ck_9"}, {"$pull": {"identity_keys": "cookie:ck_9"}}
    )
    moved = store.identities.update_one({"_id": "cookie:ck_9"}, {"$set": {"profile_id": merged["_id"]}})
    assert (uncopied.modified_count, moved.modified_count) == (1, 1)
    body = client.get("/profiles/lookup?type=cookie&value=ck_9", headers={"X-API-Key": KEYS["pii"][1]}).json()
    assert (body["id"], body["requested_id"]) == (merged["merged_into"], merged["merged_into"])
    gone = client.get("/profiles/lookup?type=cookie&value=ck_10", headers={"X-API-Key": KEYS["pii"][1]})
    assert gone.status_code == 404
