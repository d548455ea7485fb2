"""Configured identity rules reach every write path: Kafka ingest, the webhook, manual merge and erasure
are all built by the composition root with `settings.identity`, never with the shipped defaults.

Two non-default rules, each seen where it acts: `attach_max_profiles = 1` (a cookie seen on two
profiles is saturated: the writer on both ingest paths, and the eraser when it recounts a cookie's
users) and `max_per_profile.email = 1` (a manual merge of two profiles holding an email each is refused).
The same scenario under the defaults gives the opposite outcomes, so the test tells them apart.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient
from kafka import KafkaProducer

from c360.bootstrap import api_app, ingest_loop
from c360.settings import IdentitySettings
from c360.world import TOPIC_CLICKSTREAM
from operational.reads import ProfileReader
from tests.e2e.support import Pipeline, run_until

pytestmark = pytest.mark.e2e
CONFIGURED = {"attach_max_profiles": 1, "max_per_profile": {"customer_id": 1, "email": 1}}


def click(n: int, cookie: str, email: str) -> bytes:
    body = {
        "event_id": f"c{n}",
        "cookie": cookie,
        "user_email": email,
        "action": "login",
        "ts": 1_767_225_600_000 + n,
    }
    return json.dumps(body).encode()


@pytest.mark.parametrize("rules", ["configured", "default"])
def test_configured_rules_are_honoured_on_every_write_path(pipeline: Pipeline, rules: str) -> None:
    configured = rules == "configured"
    if configured:
        pipeline.settings.identity = IdentitySettings(**CONFIGURED)
    pipeline.settings.development = True  # an open API (every caller admin): the rules are the subject
    store, reader = pipeline.store, ProfileReader(pipeline.store)

    def saturated(cookie: str) -> bool:
        return bool(store.identities.find_one({"_id": f"cookie:{cookie}"})["saturated"])

    # Kafka ingest: one cookie, two people logging in on it.
    producer = KafkaProducer(bootstrap_servers=pipeline.settings.kafka.bootstrap_servers)
    for n, email in enumerate(("ann@example.com", "bob@example.com")):
        producer.send(pipeline.topic(TOPIC_CLICKSTREAM), click(n, "ck_kafka", email)).get(timeout=10)
    producer.close()
    with ingest_loop(pipeline.settings) as loop:
        run_until(loop, lambda: loop.totals.applied >= 2)
    assert saturated("ck_kafka") is configured

    with api_app(pipeline.settings) as app, TestClient(app) as client:
        # The webhook: the same, posted.
        topic = pipeline.topic(TOPIC_CLICKSTREAM)
        for n, email in enumerate(("cat@example.com", "dan@example.com"), start=10):
            response = client.post(f"/ingest/webhooks/{topic}", content=click(n, "ck_hook", email))
            assert response.status_code == 202, response.text
        assert saturated("ck_hook") is configured

        # Manual merge: two profiles with an email each.
        ann, bob = (reader.lookup("email", f"{who}@example.com")["_id"] for who in ("ann", "bob"))
        merge = client.post(f"/profiles/{ann}/merge", json={"other": bob, "reason": "same person?"})
        assert merge.status_code == (409 if configured else 200), merge.text

        # Erasure: a cookie three people used; after one is erased, two remain.
        for n, email in enumerate(("eve@example.com", "fay@example.com", "gus@example.com"), start=20):
            client.post(f"/ingest/webhooks/{topic}", content=click(n, "ck_erase", email))
        gus = reader.lookup("email", "gus@example.com")["_id"]
        erased: Any = client.delete(f"/profiles/{gus}", params={"reason": "DSR-9"})
        assert erased.status_code == 200, erased.text
    edge = store.identities.find_one({"_id": "cookie:ck_erase"})
    assert len(edge["profiles"]) == 2
    assert edge["saturated"] is configured  # 2 > 1 configured; 2 <= 3 by default
