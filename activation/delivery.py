"""HTTP delivery to one destination: the outbound topics it follows, read by a consumer group of its own
(`c360-destination-<name>`), filtered (activation/destinations.py), batched, signed, posted.

A batch that fails (an error status, a refused connection, no answer within the timeout) is retried
after an exponential, jittered wait; after `max_attempts` it goes to the dead-letter collection with
the last error, and delivery moves on. Offsets are committed only once each batch is delivered or dead-
lettered: a crash sends the batch again (at least once; receivers drop duplicates by idempotency key).
`replay` sends the dead letters again, removing those delivered.

    activation_dead_letters: {_id, destination, body (the JSON sent), records, attempts, error, at}
"""

from __future__ import annotations

import json
import random
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from kafka import KafkaConsumer

from activation import metrics
from activation.destinations import Destination, backoff, select, sign
from activation.messages import IDEMPOTENCY_HEADER
from operational.store import Store

DEAD_LETTERS = "activation_dead_letters"
POLL_MS = 100


class DeliveryFailed(Exception):
    """A request the destination did not accept; the message says how."""


def post(url: str, body: bytes, headers: dict[str, str], timeout_s: float) -> None:
    """POST `body`; raises DeliveryFailed unless the answer is 2xx within `timeout_s`."""
    request = urllib.request.Request(
        url, body, {"Content-Type": "application/json", **headers}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as answer:
            answer.read()
    except urllib.error.HTTPError as exc:
        raise DeliveryFailed(f"HTTP {exc.code}") from None
    except (urllib.error.URLError, TimeoutError, ConnectionError, OSError) as exc:
        raise DeliveryFailed(f"{type(exc).__name__}: {getattr(exc, 'reason', exc)}") from None


Post = Callable[[str, bytes, dict[str, str], float], None]


@dataclass(frozen=True)
class ReplayResult:
    delivered: int
    failed: int


class RateLimit:
    """At most `rate` requests per second: each waits for its slot."""

    def __init__(self, rate: float, sleep: Callable[[float], None] = time.sleep) -> None:
        self._interval = 1 / rate
        self._next = 0.0
        self._sleep = sleep

    def wait(self) -> None:
        now = time.monotonic()
        if now < self._next:
            self._sleep(self._next - now)
        self._next = max(now, self._next) + self._interval


class Sender:
    """Signed, rate-limited posts to one destination."""

    def __init__(self, destination: Destination, send: Post = post) -> None:
        self.destination = destination
        self._send = send
        self._secret = destination.secret()
        self._limit = RateLimit(destination.rate_per_second)

    def post(self, body: bytes) -> None:
        self._limit.wait()
        headers = sign(self._secret, int(time.time()), body)
        self._send(self.destination.url, body, headers, self.destination.timeout_seconds)


class Delivery:
    def __init__(
        self,
        destination: Destination,
        consumer: KafkaConsumer,
        streams: dict[str, str],
        store: Store,
        send: Post = post,
        rng: random.Random | None = None,
    ) -> None:
        """`consumer`: subscribed to the topics of the destination's streams; `streams`: topic -> stream."""
        self.destination = destination
        self._consumer = consumer
        self._streams = streams
        self._dead = store.db[DEAD_LETTERS]
        self._sender = Sender(destination, send)
        self._rng = rng or random.Random()

    def step(self) -> int:
        """Poll once, deliver what this destination receives of it, commit; the records delivered."""
        polled = self._consumer.poll(timeout_ms=POLL_MS, max_records=self.destination.batch_size)
        items = []
        for records in polled.values():
            for r in records:
                value = None if r.value is None else json.loads(r.value)
                stream = self._streams[r.topic]
                chosen = select(self.destination, stream, value)
                if chosen is None:
                    metrics.DELIVERIES.labels(self.destination.name, "filtered").inc()
                    continue
                key = dict(r.headers or []).get(IDEMPOTENCY_HEADER, b"").decode()
                items.append(
                    {"stream": stream, "key": r.key.decode(), "idempotency_key": key, "value": chosen}
                )
        if items:
            self.deliver(items)
        if polled:
            self._consumer.commit()
        return len(items)

    def deliver(self, items: list[dict[str, Any]]) -> bool:
        """Post one batch with retries; dead-letter it after max_attempts. True when delivered."""
        name = self.destination.name
        body = json.dumps({"destination": name, "records": items}, separators=(",", ":")).encode()
        error = ""
        for attempt in range(1, self.destination.max_attempts + 1):
            try:
                self._sender.post(body)
                metrics.DELIVERIES.labels(name, "delivered").inc(len(items))
                return True
            except DeliveryFailed as exc:
                error = str(exc)
            if attempt < self.destination.max_attempts:
                metrics.DELIVERIES.labels(name, "retried").inc(len(items))
                time.sleep(backoff(self.destination, attempt, self._rng))
        self._dead.insert_one(
            {
                "destination": name,
                "body": body.decode(),
                "records": len(items),
                "attempts": self.destination.max_attempts,
                "error": error,
                "at": datetime.now(UTC),
            }
        )
        metrics.DELIVERIES.labels(name, "dead_lettered").inc(len(items))
        return False

    def follow(self, stop: threading.Event) -> None:
        try:
            while not stop.is_set():
                self.step()
        finally:
            self.close()

    def close(self) -> None:
        self._consumer.close()


def replay(destination: Destination, store: Store, send: Post = post) -> ReplayResult:
    """Each dead letter of `destination` once more, oldest first, freshly signed; delivered ones go."""
    dead, sender = store.db[DEAD_LETTERS], Sender(destination, send)
    delivered = failed = 0
    for doc in list(dead.find({"destination": destination.name}).sort("at", 1)):
        try:
            sender.post(doc["body"].encode())
        except DeliveryFailed as exc:
            failed += 1
            dead.update_one({"_id": doc["_id"]}, {"$set": {"error": str(exc)}, "$inc": {"attempts": 1}})
            continue
        delivered += 1
        dead.delete_one({"_id": doc["_id"]})
    return ReplayResult(delivered, failed)
