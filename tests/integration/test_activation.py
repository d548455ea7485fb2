"""Activation on the genuine servers, in process: the sweeper moves a profile in and out of a windowed
segment when its boundary passes with no new event; HTTP destinations get signed bodies, retry through
errors and timeouts of a real receiver, dead-letter and replay, and a marketing destination never
receives a profile without marketing consent (a withdrawal arrives as an exit)."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import REGISTRY
from typer.testing import CliRunner

from activation.delivery import DEAD_LETTERS, replay
from activation.destinations import Destination
from activation.process import Activation
from c360.bootstrap import activation, delivery
from c360.cli import app
from c360.settings import Settings
from ingest.events import CanonicalEvent, build_event
from operational.store import Store
from operational.writer import ProfileWriter

pytestmark = pytest.mark.integration
KEY = "a-test-hmac-key-of-32-characters"


@pytest.fixture
def configured(
    settings: Settings, fresh_db: str, tmp_path: Path, unique_name: Callable[[str], str]
) -> Settings:
    s = settings.model_copy(deep=True)
    s.mongo.database = fresh_db
    s.activation.topic_prefix = unique_name("act") + "."
    s.activation.sweep_every_seconds = 0.5
    s.lake.segments_file = tmp_path / "segments.yaml"
    return s


def _segments(settings: Settings, rules: dict[str, Any]) -> None:
    segments = [{"name": name, "rule": rule} for name, rule in rules.items()]
    settings.lake.segments_file.write_text(yaml.safe_dump({"version": 1, "segments": segments}))


def _event(n: int, email: str, type_: str, at: datetime, **attributes: Any) -> CanonicalEvent:
    return build_event(
        event_id=f"e{n}-{email}",
        source="web",
        type=type_,
        occurred_at=at,
        identifiers=[{"type": "email", "value": email}],
        attributes=attributes,
    )


def _step_until(process: Activation, done: Callable[[], bool], timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while not done():
        assert time.monotonic() < deadline, "timed out"
        process.step()


def test_sweeper_moves_membership_when_the_boundary_passes(configured: Settings) -> None:
    # days_since(login) turns 1 exactly one day after the login: logins 23 h 59 min 52 s ago cross in 8 s.
    _segments(configured, {"fresh": "days_since(login) < 1", "lapsed": "days_since(login) >= 1"})
    store = Store.open(configured.mongo.uri, configured.mongo.database)
    store.ensure_indexes()
    try:
        swept_before = _swept_writes()
        with activation(configured) as process:
            login = datetime.now(UTC) - timedelta(days=1) + timedelta(seconds=8)
            ProfileWriter(store).apply([_event(1, "ann@example.com", "login", login)])
            boundary = login + timedelta(days=1)

            def membership() -> set[str]:
                doc = store.profiles.find_one({})
                return set((doc or {}).get("activation", {}).get("segments", {}))

            _step_until(process, lambda: membership() == {"fresh"})
            assert datetime.now(UTC) < boundary, (
                "the machine was too slow to see the profile before the boundary"
            )
            _step_until(process, lambda: membership() == {"lapsed"}, timeout_s=90)
            doc = store.profiles.find_one({})
            assert doc is not None
            entered = doc["activation"]["segments"]["lapsed"]["entered_at"]
            assert boundary <= entered < boundary + timedelta(seconds=60)
            assert store.events.count_documents({}) == 1  # no new event moved it
            last = doc["activation"]["changes"]
            assert [(c["segment"], c["change"]) for c in last["list"]] == [
                ("fresh", "exited"),
                ("lapsed", "entered"),
            ]
            assert last["list"][1]["values"] == {"days_since(login)": 1}
            assert _swept_writes() > swept_before  # the sweeper moved it, as its metric says
    finally:
        store.close()


def _swept_writes() -> float:
    labels = {"trigger": "sweep", "outcome": "written"}
    return REGISTRY.get_sample_value("c360_activation_evaluations_total", labels) or 0.0


class Receiver:
    """A real HTTP endpoint: answers with the scripted statuses (then 200), sleeping when told to."""

    def __init__(self) -> None:
        # Per destination, an int: answer that status; a float: sleep that long first, then 200.
        self.script: dict[str, list[int | float]] = {}
        self.accepted: list[dict[str, Any]] = []
        self.requests = 0
        self.bad_signatures = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests += 1
                stamp, signature = self.headers["X-C360-Timestamp"], self.headers["X-C360-Signature"]
                want = hmac.new(KEY.encode(), f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
                if not hmac.compare_digest(signature, f"v1={want}") or abs(time.time() - int(stamp)) > 300:
                    receiver.bad_signatures += 1
                    self.send_response(401)
                    self.end_headers()
                    return
                script = receiver.script.get(json.loads(body).get("destination"), [])
                step = script.pop(0) if script else 200
                if isinstance(step, float):
                    time.sleep(step)
                    step = 200
                if step == 200:
                    receiver.accepted.append(json.loads(body))
                self.send_response(step)
                self.end_headers()

            def log_message(self, *_: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks"

    def records(self) -> list[dict[str, Any]]:
        return [r for body in self.accepted for r in body["records"]]


@contextmanager
def _receiver() -> Iterator[Receiver]:
    receiver = Receiver()
    thread = threading.Thread(target=receiver.server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        receiver.server.shutdown()
        receiver.server.server_close()


def test_destinations_sign_retry_dead_letter_replay_and_respect_consent(
    configured: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("C360_TEST_HOOK_KEY", KEY)
    _segments(configured, {"buyers": "lifetime_count(order) >= 1"})
    store = Store.open(configured.mongo.uri, configured.mongo.database)
    store.ensure_indexes()
    writer = ProfileWriter(store)
    now = datetime.now(UTC)
    with _receiver() as receiver, activation(configured) as process:
        common = {"url": receiver.url, "secret_env": "C360_TEST_HOOK_KEY", "timeout_seconds": 1.0}
        common |= {"backoff_seconds": 0.05, "max_backoff_seconds": 0.2, "rate_per_second": 50.0}
        marketing = Destination(
            name="mkt", streams=["segment_changes"], marketing=True, max_attempts=4, **common
        )
        ops = Destination(name="ops", streams=["segment_changes"], max_attempts=2, **common)
        mkt_delivery, ops_delivery = delivery(configured, marketing, store), delivery(configured, ops, store)

        def pump(done: Callable[[], bool]) -> None:
            deadline = time.monotonic() + 90
            while not done():
                assert time.monotonic() < deadline, "timed out"
                process.step()
                mkt_delivery.step()
                ops_delivery.step()

        # ann consents, bob never does: both buy. The marketing destination first answers 500 twice and
        # then hangs past the timeout once; its fourth attempt gets through.
        receiver.script = {"mkt": [500, 500, 1.5]}
        writer.apply(
            [
                _event(1, "ann@example.com", "customer_updated", now, consent_marketing=True),
                _event(2, "ann@example.com", "order", now),
                _event(3, "bob@example.com", "order", now),
            ]
        )
        ann, bob = (
            store.profiles.find_one({"identity_keys": f"email:{e}"})["_id"]
            for e in ("ann@example.com", "bob@example.com")
        )
        pump(
            lambda: (
                {(r["value"]["profile_id"], r["value"]["change"]) for r in receiver.records()}
                >= {(ann, "entered"), (bob, "entered")}
                and len(receiver.accepted) >= 2
            )
        )
        mkt = [b for b in receiver.accepted if b["destination"] == "mkt"]
        assert {r["value"]["profile_id"] for b in mkt for r in b["records"]} == {ann}  # never bob
        assert receiver.requests >= 5  # 500, 500, timeout, then delivered; and ops once
        assert receiver.bad_signatures == 0

        # ann withdraws consent: the marketing destination gets an exit, ops (no consent rule) nothing.
        writer.apply(
            [
                _event(
                    4,
                    "ann@example.com",
                    "customer_updated",
                    now + timedelta(minutes=1),
                    consent_marketing=False,
                )
            ]
        )
        pump(lambda: any(r["value"].get("reason") == "consent_withdrawn" for r in receiver.records()))
        exits = [
            r["value"]
            for b in receiver.accepted
            if b["destination"] == "mkt"
            for r in b["records"]
            if r["value"]["change"] == "exited"
        ]
        assert [(e["profile_id"], e["segment"], e["member"]) for e in exits] == [(ann, "buyers", True)]
        assert not [
            r
            for b in receiver.accepted
            if b["destination"] == "ops"
            for r in b["records"]
            if r["value"]["profile_id"] == ann and r["value"]["change"] != "entered"
        ]

        # The receiver fails everything: ops gives up after 2 attempts and dead-letters; replay delivers.
        receiver.script = {"ops": [503] * 2}
        before = len(receiver.accepted)
        writer.apply([_event(5, "cy@example.com", "order", now)])
        dead = store.db[DEAD_LETTERS]
        pump(lambda: dead.count_documents({"destination": "ops"}) == 1)
        assert len(receiver.accepted) == before  # mkt: cy never consented
        letter = dead.find_one({"destination": "ops"})
        assert letter is not None and letter["attempts"] == 2 and letter["error"] == "HTTP 503"
        result = replay(ops, store)
        assert (result.delivered, result.failed) == (1, 0)
        assert dead.count_documents({}) == 0
        assert json.loads(letter["body"]) == receiver.accepted[-1]
        mkt_delivery.close()
        ops_delivery.close()
    store.close()


def test_rate_limit_spaces_requests(configured: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("C360_TEST_HOOK_KEY", KEY)
    store = Store.open(configured.mongo.uri, configured.mongo.database)
    slow = Destination(
        name="slow",
        url="http://127.0.0.1:9/x",
        streams=["profiles"],
        secret_env="C360_TEST_HOOK_KEY",
        rate_per_second=5,
    )
    with _receiver() as receiver:
        store.db[DEAD_LETTERS].insert_many(
            [{"destination": "slow", "body": json.dumps({"n": i}), "at": datetime.now(UTC)} for i in range(6)]
        )
        started = time.monotonic()
        result = replay(slow.model_copy(update={"url": receiver.url}), store)
        elapsed = time.monotonic() - started
    store.close()
    assert result.delivered == 6 and [b["n"] for b in receiver.accepted] == list(range(6))
    assert elapsed >= 1.0  # six requests at five a second: the sixth waits a full second


def test_segments_explain_prints_each_condition(
    configured: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    _segments(configured, {"buyers": {"all": ["lifetime_count(order) >= 2", "days_since(order) < 30"]}})
    store = Store.open(configured.mongo.uri, configured.mongo.database)
    store.ensure_indexes()
    ProfileWriter(store).apply([_event(1, "dee@example.com", "order", datetime.now(UTC) - timedelta(days=3))])
    pid = store.profiles.find_one({})["_id"]
    store.close()
    for name, value in {
        "C360_MONGO__URI": configured.mongo.uri,
        "C360_MONGO__DATABASE": configured.mongo.database,
        "C360_LAKE__SEGMENTS_FILE": str(configured.lake.segments_file),
    }.items():
        monkeypatch.setenv(name, value)
    result = CliRunner().invoke(app, ["segments", "explain", "buyers", pid], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    lines = [" ".join(line.replace("│", " ").split()) for line in result.output.splitlines()]
    assert "lifetime_count(order) >= 2 1 no" in lines
    assert "days_since(order) < 30 3 yes" in lines
    assert f"profile {pid} is NOT IN buyers now" in lines
    unknown = CliRunner().invoke(app, ["segments", "explain", "sellers", pid])
    assert unknown.exit_code == 1 and "no segment sellers" in unknown.output
