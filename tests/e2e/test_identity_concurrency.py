"""Two ingest processes in one consumer group, on the same broker and database, handling identifiers of
one person at the same moment: they must converge on one profile and lose no event. Expected values come
from the messages this test publishes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from decimal import Decimal

import pytest

from c360.world import Message
from tests.e2e.support import Pipeline, live_profiles, wait_for
from tests.held_keys import assert_held_keys_match_edges

pytestmark = pytest.mark.e2e
EMAIL, PHONE, CUSTOMER = "ann.race@example.com", "+447911123456", "CUST-0000001"
T0_MS = 1_780_000_000_000


def _messages(n: int) -> list[Message]:
    """n rounds of a customer record, a card transaction and a web login, each round keyed differently
    so that the rounds spread over every partition (and so over both processes)."""
    out = []
    for i in range(n):
        at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime((T0_MS + i * 1000) / 1000))
        contact = {"email": EMAIL} if i % 2 else {"mobile": PHONE}
        customer = {"customer_no": CUSTOMER, "version": i + 1, "accounts": [f"ACC-{i:08d}"],
                    "updated_at": at, **contact}  # fmt: skip
        txn = {"txn_id": f"TX-{i:08d}", "account": f"ACC-{i:08d}", "amount": "1.25", "currency": "GBP",
               "dc": "D", "channel": "pos", "booked_at": at}  # fmt: skip
        login = {"event_id": f"ev-{i}", "cookie": f"ck_{i % 7}", "user_email": EMAIL if i % 2 else None,
                 "action": "login" if i % 2 else "page_view", "url": "/", "ts": T0_MS + i * 1000}  # fmt: skip
        for topic, value in (("corebank.customers", customer), ("corebank.transactions", txn),
                             ("web.clickstream", login)):  # fmt: skip
            out.append(Message(topic, f"k{i}".encode(), json.dumps(value).encode(), 0))
    return out


def test_two_ingest_processes_converge_on_one_profile_and_lose_nothing(pipeline: Pipeline) -> None:
    rounds = 300
    messages = _messages(rounds)
    env = {**os.environ, **pipeline.env(), "C360_INGEST__BATCH_SIZE": "40"}
    command = [sys.executable, "-m", "c360.cli", "ingest", "run", "--quiet"]
    procs = [
        subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        for _ in range(2)
    ]
    try:
        wait_for(lambda: pipeline.store.ingest_workers.count_documents({}) >= 2, 60, "both workers up")
        time.sleep(2)  # both in the group before the first message
        total = pipeline.publish(messages)
        wait_for(lambda: pipeline.store.events.count_documents({}) >= total, 120, "every event applied")
        workers = pipeline.store.ingest_workers
        wait_for(lambda: workers.count_documents({"records": {"$gt": 0}}) >= 2, 30, "both processes busy")
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            proc.wait(timeout=30)
    assert total == 3 * rounds
    live = live_profiles(pipeline.store)
    assert len(live) == 1, [p["_id"] for p in live]
    profile = live[0]
    assert profile["event_count"] == total
    assert profile["stats"]["transaction"] == {"count": rounds, "amount": Decimal("1.25") * rounds}
    assert pipeline.store.events.count_documents({"profile_id": {"$ne": profile["_id"]}}) == 0
    assert pipeline.store.identities.count_documents({"profile_id": {"$ne": profile["_id"]}}) == 0
    assert assert_held_keys_match_edges(pipeline.store) == pipeline.store.identities.count_documents({})
