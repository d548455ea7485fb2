"""The profile API on genuine MongoDB and Kafka: roles and masking, search, paged timeline, ETags, the
webhook ingest with its dead letters, and MongoDB operator injection refused everywhere.

A small generated world is applied through the real writer; expected values come from the generator.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient
from kafka import KafkaConsumer, KafkaProducer

from api.app import ApiServices, create_app
from api.auth import KeyRing
from api.schemas import ProfileOut
from api.webhooks import WebhookIngest
from c360.dead_letters import DeadLetterSink
from c360.publish import ensure_topics
from c360.settings import Settings
from c360.world import TOPIC_TICKETS, Person, World, generate_world
from ingest.mappings import SourceMapping, load_mapping_file
from ingest.records import CanonicalEvent, SourceRecord, translate
from operational.store import Store
from operational.writer import ProfileWriter

pytestmark = pytest.mark.integration
KEYS = {
    "reader": ("agent", "reader-key-0123456789", "reader", False),
    "pii": ("supervisor", "pii-reader-key-012345", "reader", True),
    "writer": ("zendesk", "writer-key-0123456789", "writer", False),
    "admin": ("ops", "admin-key-01234567890", "admin", False),
}


@dataclass
class Api:
    client: TestClient
    world: World
    store: Store
    dead_letter_topic: str
    bootstrap: str

    def get(self, path: str, role: str | None = "pii", **kwargs: object) -> object:
        headers = {"X-API-Key": KEYS[role][1]} if role else {}
        headers.update(kwargs.pop("headers", {}))  # type: ignore[arg-type]
        return self.client.get(path, headers=headers, **kwargs)

    def post(self, path: str, body: bytes, role: str | None = "writer") -> object:
        headers = {"X-API-Key": KEYS[role][1]} if role else {}
        return self.client.post(path, content=body, headers=headers)

    def profile_id(self, person: Person) -> str:
        response = self.get(f"/profiles/lookup?type=customer_id&value={person.customer_id}")
        return response.json()["id"]


@pytest.fixture(scope="module")
def api(settings: Settings) -> Iterator[Api]:
    world = generate_world(people=60, events_per_person=20, seed=31, holdings=True)
    database = f"test_api_{uuid.uuid4().hex[:8]}"
    store = Store.open(settings.mongo.uri, database)
    store.ensure_indexes()
    mappings = load_mapping_file().for_topic()
    events = [
        translate(SourceRecord(m.topic, 0, i, m.key, m.value, 0), mappings, 1 << 20)
        for i, m in enumerate(world.messages)
    ]
    assert all(isinstance(e, CanonicalEvent) for e in events)
    writer = ProfileWriter(store)
    for start in range(0, len(events), 500):
        writer.apply(events[start : start + 500])  # type: ignore[arg-type]
    dead_letter_topic = f"deadletter.api.{uuid.uuid4().hex[:8]}"
    ensure_topics(settings.kafka, [dead_letter_topic])
    sink = DeadLetterSink(
        KafkaProducer(bootstrap_servers=settings.kafka.bootstrap_servers), dead_letter_topic
    )

    def dead_letter(letter: object) -> None:
        sink.send(letter)  # type: ignore[arg-type]
        sink.flush()

    sources = {t: m for t, m in mappings.items() if isinstance(m, SourceMapping)}
    services = ApiServices(
        keys=KeyRing(KEYS.values()),  # type: ignore[arg-type]
        clock=lambda: world.now,
        webhooks=WebhookIngest(sources, writer, dead_letter),
    )
    try:
        with TestClient(create_app(store, services)) as client:
            yield Api(client, world, store, dead_letter_topic, settings.kafka.bootstrap_servers)
    finally:
        sink.close()
        store.client.drop_database(database)
        store.close()


def bank_people(world: World) -> list[Person]:
    return [p for p in world.people if not p.web_only]


def ticket(person: Person, ticket_id: int, status: str = "open", **extra: object) -> bytes:
    body = {
        "id": ticket_id,
        "status": status,
        "subject": "Card stuck in ATM",
        "tags": ["complaint"],
        "requester": {"email": person.emails[0]},
        "sentiment": "-0.80",
        "updated_at": "2026-11-19T12:00:00Z",
        **extra,
    }
    return json.dumps({"ticket": body}).encode()


def test_keys_roles_401_403(api: Api) -> None:
    person = bank_people(api.world)[0]
    path = f"/profiles/lookup?type=customer_id&value={person.customer_id}"
    assert api.get(path, role=None).status_code == 401
    wrong = api.client.get(path, headers={"X-API-Key": "not-a-key-at-all-1234"})
    assert (wrong.status_code, wrong.json()["detail"]) == (401, "unknown API key")
    for role in KEYS:
        assert api.get(path, role=role).status_code == 200
    denied = api.post(f"/ingest/webhooks/{TOPIC_TICKETS}", ticket(person, 1), role="reader")
    assert denied.status_code == 403 and "writer" in denied.json()["detail"]
    graph = f"/profiles/{api.profile_id(person)}/identity"  # every identifier and merge evidence
    assert api.get(graph, role=None).status_code == 401
    assert [api.get(graph, role=role).status_code for role in ("reader", "pii", "writer")] == [403, 403, 200]


def test_reader_sees_personal_data_masked_unless_granted(api: Api) -> None:
    person = bank_people(api.world)[1]
    path = f"/profiles/lookup?type=customer_id&value={person.customer_id}"
    full, masked = api.get(path, role="pii").json(), api.get(path, role="reader").json()
    emails = {i["value"] for i in full["identifiers"] if i["type"] == "email"}
    assert emails == set(person.emails)
    assert full["traits"]["first_name"]["value"] == person.first_name
    masked_emails = {i["value"] for i in masked["identifiers"] if i["type"] == "email"}
    assert masked_emails == {f"{e[0]}***@{e.partition('@')[2]}" for e in person.emails}
    phones = {i["value"] for i in masked["identifiers"] if i["type"] == "phone"}
    assert phones and not phones & set(person.phones)
    assert masked["traits"]["first_name"]["value"] == person.first_name[0] + "***"
    # Not personal: the same for both.
    assert masked["transactions"] == full["transactions"]
    events = api.get(f"/profiles/{full['id']}/events?limit=500", role="reader").json()
    shown = {i["value"] for e in events for i in e["identifiers"] if i["type"] == "email"}
    assert shown and not shown & set(person.emails)


def test_profile_bodies_are_what_the_documented_model_serializes(api: Api) -> None:
    """Bodies are built without the response model; they must still be exactly its serialization."""
    schema = api.client.get("/openapi.json").json()
    for path in ("/profiles/{profile_id}", "/profiles/lookup"):
        content = schema["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]
        assert content["schema"] == {"$ref": "#/components/schemas/ProfileOut"}
    for person in bank_people(api.world)[:20]:
        for role in ("pii", "reader"):
            body = api.get(f"/profiles/lookup?type=customer_id&value={person.customer_id}", role=role).text
            assert ProfileOut.model_validate_json(body).model_dump_json() == body


@pytest.mark.parametrize("how", ["email", "name", "phone", "customer_id"])
def test_search_by_prefix(api: Api, how: str) -> None:
    for person in bank_people(api.world)[:10]:
        q = {
            "email": person.emails[0][:5].upper(),
            "name": f"{person.first_name} {person.last_name[:2]}".lower(),
            "phone": "0" + person.phones[0][3:8],  # national format, as a caller says it
            "customer_id": person.customer_id[:9],
        }[how]
        hits = api.get("/profiles/search", params={"q": q, "limit": 50}).json()
        assert api.profile_id(person) in {h["id"] for h in hits}, (how, q)


@pytest.mark.parametrize(
    "q", ['{"$gt": ""}', "^.*", ".*", "[a-z]+", "\\d+", '{"$where": "sleep(100)"}', "$regex"]
)
def test_search_text_is_never_an_operator_or_a_regex(api: Api, q: str) -> None:
    response = api.get("/profiles/search", params={"q": q})
    assert (response.status_code, response.json()) == (200, [])


def test_operator_injection_refused_in_every_parameter_and_body(api: Api) -> None:
    person = bank_people(api.world)[2]
    assert api.get('/profiles/{"$ne":null}').status_code == 422
    assert api.get("/profiles/lookup", params={"type": "$where", "value": "1"}).status_code == 422
    literal = api.get("/profiles/lookup", params={"type": "customer_id", "value": '{"$gt": ""}'})
    assert literal.status_code == 404  # an odd value, looked up literally
    assert api.get("/profiles/lookup", params={"type": "customer_id", "value[$ne]": "x"}).status_code == 422
    pid = api.profile_id(person)
    assert api.get(f"/profiles/{pid}/timeline", params={"cursor": '{"$gt":""}'}).status_code == 422
    assert api.get(f"/profiles/{pid}/timeline", params={"cursor": "0=unVS"}).status_code == 404
    assert api.get(f"/profiles/{pid}/timeline", params={"limit": '{"$gt":0}'}).status_code == 422
    assert api.post("/ingest/webhooks/$where", b"{}").status_code in (404, 422)
    before = api.store.events.count_documents({})
    bodies = [
        ticket(person, 9001, requester={"email": {"$ne": None}}),
        ticket(person, 9002, **{"$where": "1"}),
        json.dumps({"ticket": {"id": 9003, "status": "open", "a.b": 1}}).encode(),
        json.dumps({"$set": {"merged_into": "p0"}}).encode(),
    ]
    for body in bodies:
        response = api.post(f"/ingest/webhooks/{TOPIC_TICKETS}", body)
        assert response.status_code == 422, body
    assert api.store.events.count_documents({}) == before
    letters = _dead_letters(api, len(bodies))
    assert sorted(m.value for m in letters) == sorted(bodies)
    reasons = {dict(m.headers).get("c360.reason", b"").decode() for m in letters}
    assert "operator_key" in reasons


def test_etag_304_until_an_event_changes_the_profile(api: Api) -> None:
    person = bank_people(api.world)[3]
    pid = api.profile_id(person)
    first = api.get(f"/profiles/{pid}")
    etag = first.headers["ETag"]
    assert api.get(f"/profiles/{pid}", headers={"If-None-Match": etag}).status_code == 304
    opened = first.json()["service"]["contacts_30d"]
    accepted = api.post(f"/ingest/webhooks/{TOPIC_TICKETS}", ticket(person, 777_001))
    assert accepted.status_code == 202 and accepted.json()["applied"] is True
    again = api.post(f"/ingest/webhooks/{TOPIC_TICKETS}", ticket(person, 777_001))
    assert again.json()["applied"] is False  # the same ticket event: idempotent
    changed = api.get(f"/profiles/{pid}", headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["ETag"] != etag
    service = changed.json()["service"]
    assert service["contacts_30d"] == opened + 1
    assert "777001" in {t["ticket_id"] for t in service["open_tickets"]}


def test_timeline_pages_cover_every_event_once(api: Api) -> None:
    person = bank_people(api.world)[4]
    pid = api.profile_id(person)
    expected = sum(1 for m in api.world.messages if m.person == person.index)
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 7} | ({"cursor": cursor} if cursor else {})
        page = api.get(f"/profiles/{pid}/timeline", params=params).json()
        seen += [e["event_id"] for e in page["items"]]
        times = [e["occurred_at"] for e in page["items"]]
        assert times == sorted(times, reverse=True)
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == expected


def test_metrics_expose_latency_freshness_and_lag(api: Api) -> None:
    api.get("/health")
    text = api.get("/metrics").text
    assert 'c360_api_request_seconds_count{method="GET",route="/health",status="200"}' in text
    assert "c360_event_to_profile_seconds_bucket" in text
    assert "c360_ingest_worker_lag_records" in text


def _dead_letters(api: Api, expected: int) -> list[object]:
    consumer = KafkaConsumer(
        api.dead_letter_topic,
        bootstrap_servers=api.bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        consumer_timeout_ms=2000,
    )
    try:
        found: list[object] = []
        for _ in range(10):
            found += list(consumer)
            if len(found) >= expected:
                break
        return found
    finally:
        consumer.close()


def test_search_by_whole_email_finds_only_its_owner(api: Api) -> None:
    person = bank_people(api.world)[5]
    hits = api.get("/profiles/search", params={"q": person.emails[-1]}).json()
    assert [h["id"] for h in hits] == [api.profile_id(person)]
