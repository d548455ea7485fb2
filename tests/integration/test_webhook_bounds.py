"""The webhook against hostile callers, on the app the composition root builds (genuine MongoDB and
Kafka): bodies bounded while read (413), lone surrogates and operator keys at any depth refused as 422
dead letters, a dead letter too large for Kafka cut down and sent rather than answered with a 500, and
every 4xx body in its declared shape."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from kafka import KafkaConsumer

from c360.bootstrap import api_app
from c360.publish import ensure_topics
from c360.settings import Settings
from c360.world import TOPIC_TICKETS

pytestmark = pytest.mark.integration
LIMIT = 3_000_000
URL = f"/ingest/webhooks/{TOPIC_TICKETS}"


def ticket(n: int, **extra: Any) -> dict[str, Any]:
    body = {"id": n, "status": "open", "requester": {"email": "ann@example.com"}}
    return {"ticket": body | {"updated_at": "2026-11-20T10:00:00Z"} | extra}


@pytest.fixture
def app_settings(settings: Settings, fresh_db: str, unique_name: Any) -> Settings:
    configured = settings.model_copy(deep=True)
    configured.mongo.database = fresh_db
    configured.kafka.dead_letter_topic = unique_name("deadletter")
    configured.api.max_body_bytes = LIMIT
    configured.development = True  # an open API (every caller admin): the bounds are the subject
    ensure_topics(configured.kafka, [configured.kafka.dead_letter_topic])
    return configured


@pytest.fixture
def client(app_settings: Settings) -> Iterator[TestClient]:
    with api_app(app_settings) as app, TestClient(app) as client:
        yield client


def dead_letters(settings: Settings, expected: int) -> list[Any]:
    consumer = KafkaConsumer(
        settings.kafka.dead_letter_topic,
        bootstrap_servers=settings.kafka.bootstrap_servers,
        auto_offset_reset="earliest",
        consumer_timeout_ms=2_000,
        fetch_max_bytes=8 << 20,
        max_partition_fetch_bytes=8 << 20,
    )
    found: list[Any] = []
    for _ in range(10):
        found += list(consumer)
        if len(found) >= expected:
            break
    consumer.close()
    return found


def test_a_body_over_the_limit_is_413_before_it_is_read(client: TestClient) -> None:
    declared = client.post(URL, content=b"x" * (LIMIT + 1))
    assert declared.status_code == 413
    assert declared.json() == {"detail": f"a body of {LIMIT + 1} bytes exceeds the limit of {LIMIT}"}

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted while it arrives
        for _ in range(LIMIT // 100_000 + 2):
            yield b" " * 100_000

    streamed = client.post(URL, content=chunks())
    assert streamed.status_code == 413
    assert streamed.json() == {"detail": f"the body exceeds the limit of {LIMIT} bytes"}
    merge = client.post("/profiles/p0123456789abcdef0123/merge", content=b"{" * (LIMIT + 1))
    assert merge.status_code == 413  # every route's body, not only the webhook's


def test_hostile_bodies_are_422_dead_letters_never_500(client: TestClient, app_settings: Settings) -> None:
    deep = json.loads('{"a": ' + "[" * 40 + '{"b": {"$set": {"merged_into": "p0"}}}' + "]" * 40 + "}")
    cases = {
        "lone surrogate": (json.dumps(ticket(1, subject="\ud800")).encode(), "decode", ["body"]),
        "operator 41 deep": (json.dumps(ticket(2, custom=deep)).encode(), "operator_key", None),
        "dotted key": (json.dumps(ticket(3, tags=[{"x.y": 1}])).encode(), "operator_key", None),
        "a minute of CPU in nine bytes": (b'{"ticket": {"id": 1e1000000}}', "decode", ["body"]),
        "over the record limit": (json.dumps(ticket(4, pad="x" * 2_000_000)).encode(), "decode", ["body"]),
    }
    for name, (body, reason, loc) in cases.items():
        response = client.post(URL, content=body, headers={"Content-Type": "application/json"})
        assert response.status_code == 422, (name, response.text)
        [problem] = response.json()["detail"]
        assert problem["type"] == reason and problem["msg"], (name, problem)
        assert loc is None or problem["loc"] == loc, (name, problem)
    letters = dead_letters(app_settings, len(cases))
    reasons = sorted(dict(m.headers)["c360.reason"].decode() for m in letters)
    assert reasons == sorted(reason for _, reason, _ in cases.values())
    [big] = [m for m in letters if dict(m.headers).get("c360.truncated") == b"true"]
    headers = {k: v.decode() for k, v in big.headers}
    original = cases["over the record limit"][0]
    assert int(headers["c360.original.value_bytes"]) == len(original) and len(big.value) > 900_000
    assert big.value == original[: len(big.value)]  # its first bytes, as they were


def test_error_bodies_follow_the_declared_schemas(client: TestClient) -> None:
    missing = client.get("/profiles/lookup", params={"type": "shoe", "value": "9"})
    [problem] = missing.json()["detail"]
    assert missing.status_code == 422 and problem["loc"] == ["query", "type"] and problem["type"]
    malformed = client.post(
        "/profiles/p0123456789abcdef0123/merge", content=b"{", headers={"Content-Type": "application/json"}
    )
    assert malformed.status_code == 422 and malformed.json()["detail"][0]["type"] == "json_invalid"
    cursor = client.get("/profiles/p0123456789abcdef0123/timeline", params={"cursor": "AAAA"})
    assert cursor.status_code in (404, 422)
    unknown = client.post("/ingest/webhooks/no.such.topic", content=b"{}")
    assert unknown.status_code == 404
    assert unknown.json() == {"detail": "no source mapping for topic 'no.such.topic'"}
    accepted = client.post(URL, json=ticket(10))
    assert accepted.status_code == 202 and accepted.json()["applied"] is True
