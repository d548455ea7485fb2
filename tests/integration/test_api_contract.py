"""The API keeps its OpenAPI contract under schemathesis: `c360 serve` (the real app, on the genuine
MongoDB and Kafka of the suite) with a small demo world and a review queue, every operation fuzzed with
every schemathesis check, then the stateful phase chaining merges, splits and reviews through the
declared OpenAPI links. Zero 5xx, zero schema violations: any failure fails the test with its curl."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import CHECKS

from c360.publish import ensure_topics
from c360.settings import Settings
from c360.world import generate_world
from ingest.records import SourceRecord, translate
from operational.reads import ProfileReader
from operational.reviews import ReviewQueue
from operational.store import Store
from operational.workers import WorkerRegistry
from operational.writer import ProfileWriter
from tests.fuzz_inputs import MAPPINGS
from tests.served import serve_env, served

pytestmark = pytest.mark.integration
ADMIN = {"X-API-Key": "contract-admin-key-0001"}
ALL_CHECKS = CHECKS.get_all()
EXAMPLES = int(os.environ.get("C360_SCHEMATHESIS_EXAMPLES", "15"))
STATEFUL_EXAMPLES = int(os.environ.get("C360_SCHEMATHESIS_STATEFUL_EXAMPLES", "40"))


@pytest.fixture(scope="module")
def store(settings: Settings) -> Iterator[Store]:
    store = Store.open(settings.mongo.uri, f"contract_{os.getpid()}")
    store.ensure_indexes()
    _seed(store)
    yield store
    store.client.drop_database(store.db.name)
    store.close()


@pytest.fixture(scope="module")
def base_url(settings: Settings, store: Store) -> Iterator[str]:
    """`c360 serve` on the seeded database, with an ingest worker beating (so that /ready is 200)."""
    database = store.db.name
    dead_letters = f"deadletter.contract.{os.getpid()}"
    ensure_topics(settings.kafka, [dead_letters])
    keys = [{"name": "steward", "key": ADMIN["X-API-Key"], "role": "admin", "pii": True}]
    env = serve_env(settings, database, dead_letters, keys)
    stop = threading.Event()
    beating = threading.Thread(target=_beat, args=(WorkerRegistry(store), stop), daemon=True)
    beating.start()
    try:
        with served(env) as port:
            yield f"http://127.0.0.1:{port}"
    finally:
        stop.set()


def _beat(workers: WorkerRegistry, stop: threading.Event) -> None:
    while not stop.is_set():
        workers.beat("contract-worker", {"group": "contract", "assignment": [], "lag": 0})
        stop.wait(2)


def _seed(store: Store) -> None:
    """Forty people from the demo world; and thirty profiles known by an email only, paired in review
    items (two bank customers could not merge: each holds a customer id, and a profile holds one)."""
    world = generate_world(people=40, events_per_person=8, seed=16)
    events = []
    for message in world.messages:
        result = translate(SourceRecord(message.topic, 0, 0, message.key, message.value, 0), MAPPINGS, 10**6)
        if not hasattr(result, "reason"):
            events.append(result)
    for n in range(30):
        body = {"message_id": f"m{n}", "recipient": f"reader{n}@example.com", "event": "opened"}
        value = json.dumps(body | {"timestamp": "2026-11-01T10:00:00Z"}).encode()
        events.append(translate(SourceRecord("marketing.email", 0, n, None, value, 0), MAPPINGS, 10**6))
    ProfileWriter(store).apply(events)
    readers = [ProfileReader(store).lookup("email", f"reader{n}@example.com")["_id"] for n in range(30)]
    queue = ReviewQueue(store)
    queue.ensure_indexes()
    for n in range(0, 30, 2):
        queue.open(f"seed-{n}", readers[n], readers[n + 1], {"weight": 4.0, "vector": [1, 0, 2]})


@pytest.fixture(scope="module")
def api_schema(base_url: str) -> Any:
    return schemathesis.openapi.from_url(f"{base_url}/openapi.json")


# Generate only: shrinking replays calls against a server whose state the first run changed, which
# hypothesis reports as flaky data generation instead of the failure itself.
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
    phases=[Phase.explicit, Phase.generate],
    report_multiple_bugs=False,
)


def test_every_operation_keeps_its_contract(api_schema: Any) -> None:
    """Each operation in turn (schemathesis's pytest plugin does not run on pytest 9), every check."""
    failures: dict[str, str] = {}
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 15

    for operation in operations:

        @FUZZ
        @given(operation.as_strategy())
        def fuzz(case: Any) -> None:
            case.call_and_validate(headers=ADMIN, checks=ALL_CHECKS)

        try:
            fuzz()
        except Exception as exc:
            failures[operation.label] = str(exc)[:3000]
    assert not failures, "\n\n".join(f"{label}:\n{text}" for label, text in failures.items())


def test_stateful_merges_splits_and_reviews_keep_the_contract(base_url: str, store: Store) -> None:
    """The stateful phase, run by schemathesis's own engine (its CLI): driven from pytest, the state
    machine meets a server whose answers differ between hypothesis's replays of a prefix, which
    hypothesis refuses as flaky generation."""
    command = [
        str(Path(sys.executable).with_name("schemathesis")),
        "run",
        f"{base_url}/openapi.json",
        "--phases=stateful",
        "--checks=all",
        f"--header=X-API-Key: {ADMIN['X-API-Key']}",
        f"--max-examples={STATEFUL_EXAMPLES}",
        "--seed=16",
        "--no-color",
    ]
    run = subprocess.run(command, capture_output=True, text=True, timeout=900, check=False)
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
    # The links were followed: profiles merged (from the review queue's links, by hand or accepted).
    # (Splits, the third step of review -> accept -> split, are seldom reached in this budget;
    # tests/integration/test_identity_reads.py splits, merges and re-splits through the API.)
    changes = {d["kind"] for d in store.identity_events.find({"evidence.actor": "steward"})}
    decided = store.db["review_items"].count_documents({"decided_by": "steward"})
    assert "merge" in changes, (changes, decided, run.stdout[-3000:])  # only review links lead to one
