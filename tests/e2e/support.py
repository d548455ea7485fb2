"""End-to-end helpers: a private pipeline (own topics, group, dead-letter topic, database) and checks of
profiles against the generated world's ground truth."""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any

from kafka import KafkaConsumer

from c360.ingest_loop import IngestLoop
from c360.publish import publish
from c360.settings import Settings
from c360.world import Message, World
from operational.store import Store


@dataclass
class Pipeline:
    settings: Settings
    suffix: str
    store: Store

    def topic(self, source_topic: str) -> str:
        return f"{source_topic}.{self.suffix}"

    def publish(self, messages: Iterable[Message]) -> int:
        renamed = [Message(self.topic(m.topic), m.key, m.value, m.person) for m in messages]
        return publish(renamed, self.settings.kafka, progress=False)

    def env(self) -> dict[str, str]:
        """The same settings as C360_* variables, for an ingest process of its own."""
        s = self.settings
        return {
            "C360_MONGO__URI": s.mongo.uri,
            "C360_MONGO__DATABASE": s.mongo.database,
            "C360_KAFKA__BOOTSTRAP_SERVERS": s.kafka.bootstrap_servers,
            "C360_KAFKA__GROUP_ID": s.kafka.group_id,
            "C360_KAFKA__DEAD_LETTER_TOPIC": s.kafka.dead_letter_topic,
            "C360_KAFKA__SESSION_TIMEOUT_MS": str(s.kafka.session_timeout_ms),
            "C360_KAFKA__HEARTBEAT_INTERVAL_MS": str(s.kafka.heartbeat_interval_ms),
            "C360_INGEST__MAPPING_FILE": str(s.ingest.mapping_file),
            "C360_INGEST__BATCH_SIZE": str(s.ingest.batch_size),
        }

    def dead_letters(self, expected: int, timeout_s: float = 30.0) -> list[Any]:
        consumer = KafkaConsumer(
            self.settings.kafka.dead_letter_topic,
            bootstrap_servers=self.settings.kafka.bootstrap_servers,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
            consumer_timeout_ms=1000,
        )
        found: list[Any] = []
        deadline = time.monotonic() + timeout_s
        try:
            while len(found) < expected and time.monotonic() < deadline:
                found += list(consumer)
        finally:
            consumer.close()
        return found


def run_until(loop: IngestLoop, done: Callable[[], bool], timeout_s: float = 120.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not done():
        assert time.monotonic() < deadline, f"pipeline did not finish in {timeout_s}s: {loop.totals}"
        loop.step()


def wait_for(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out after {timeout_s}s waiting for {what}"
        time.sleep(0.2)


def live_profiles(store: Store) -> list[dict[str, Any]]:
    return list(store.profiles.find({"merged_into": {"$exists": False}}))


def assert_profiles_match_ground_truth(
    world: World, store: Store, extra_identifiers: dict[int, set[tuple[str, str]]] | None = None
) -> None:
    """Every person has exactly one live profile saying exactly what the generator says it must;
    `extra_identifiers`: what sources beyond the world's messages add per person (a loyalty export)."""
    profiles = live_profiles(store)
    by_identifier = {(i["type"], i["value"]): p for p in profiles for i in p["identifiers"].values()}
    mismatches: list[str] = []
    for expected in world.expected_profiles():
        holders = {by_identifier[i]["_id"] for i in expected.identifiers if i in by_identifier}
        if len(holders) != 1:
            mismatches.append(f"person {expected.person}: identifiers spread over {len(holders)} profiles")
            continue
        doc = by_identifier[next(iter(expected.identifiers))]
        got = {
            "identifiers": {(i["type"], i["value"]) for i in doc["identifiers"].values()},
            "counts": {t: s["count"] for t, s in doc["stats"].items()},
            "sums": {t: s["amount"] for t, s in doc["stats"].items() if "amount" in s},
            "first_seen": doc["first_seen"],
            "last_seen": doc["last_seen"],
            "channels": doc["channels"],
            "event_count": doc["event_count"],
        }
        want = {
            "identifiers": expected.identifiers | (extra_identifiers or {}).get(expected.person, set()),
            "counts": expected.counts,
            "sums": expected.sums,
            "first_seen": expected.first_seen,
            "last_seen": expected.last_seen,
            "channels": expected.channels,
            "event_count": sum(expected.counts.values()),
        }
        for field, value in want.items():
            if got[field] != value:
                mismatches.append(f"person {expected.person} {field}: got {got[field]!r}, want {value!r}")
    assert not mismatches, f"{len(mismatches)} mismatches, first: {mismatches[:5]}"
    assert len(profiles) == len(world.people)


def served(view: dict[str, Any]) -> dict[str, Any]:
    """The served view in the ground truth's shape (tuples where the truth keeps tuples)."""
    retail, service = dict(view["retail"]), dict(view["service"])
    retail["top_items"] = [(i["sku"], i["count"]) for i in retail["top_items"]]
    retail["web_errors"] = [(e["at"], e["url"], e["code"], e["message"]) for e in retail["web_errors"]]
    service["open_tickets"] = sorted(t["ticket_id"] for t in service["open_tickets"])
    offer = view["next_best_offer"]
    return {
        "traits": view["traits"],
        "consent": view["consent"],
        "holdings": sorted(
            (
                h["product_id"],
                h["product_type"],
                h["status"],
                date.fromisoformat(h["opened_on"]),
                h["credit_limit"],
                h["outstanding_balance"],
            )
            for h in view["holdings"]
        ),
        "transactions": view["transactions"],
        "service": service,
        "retail": retail,
        "credit_utilization": view["credit_utilization"],
        "engagement_score": view["engagement_score"],
        "churn_risk": view["churn_risk"],
        "next_best_offer": None if offer is None else offer["offer"],
        "timeline": sorted(((t["at"], t["type"]) for t in view["timeline"]), reverse=True),
    }


def kill_writer(proc: subprocess.Popen[bytes], store: Store) -> None:
    """SIGKILL a process that writes to MongoDB, then end its transaction in flight as mongod's transaction
    lifetime (60 s) would: the next run, and the test's teardown, would otherwise wait for its locks."""
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    store.client.admin.command("killAllSessions", [])
