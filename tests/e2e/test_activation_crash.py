"""`c360 activate run` SIGKILLed again and again while profiles change, merge and one person is erased: no
change is lost on the outbound topics, a record sent twice carries the same idempotency key and the same
bytes, each profile's versions arrive in order, the erasure ends in a tombstone, and the segment changes
replayed per profile give exactly the membership MongoDB holds and the rule gives now."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import TypeAdapter

from activation.evaluate import verdict
from activation.rules import Rule
from bench.topic_reader import read_until_idle
from c360.settings import Settings
from c360.world import generate_world
from c360.world_events import world_events
from operational.erasure import Eraser
from operational.store import Store
from operational.writer import ProfileWriter

pytestmark = pytest.mark.e2e

RULES = {"active": "count(transaction, 90d) >= 2", "shopper": "lifetime_count(order) >= 1"}


def test_killed_activation_loses_nothing_and_repeats_only_same_keys(
    settings: Settings, fresh_db: str, tmp_path: Path, unique_name: Any
) -> None:
    prefix = unique_name("act") + "."
    segments_file = tmp_path / "segments.yaml"
    segments_file.write_text(
        yaml.safe_dump({"version": 1, "segments": [{"name": n, "rule": r} for n, r in RULES.items()]})
    )
    env = {
        **os.environ,
        "C360_MONGO__URI": settings.mongo.uri,
        "C360_MONGO__DATABASE": fresh_db,
        "C360_KAFKA__BOOTSTRAP_SERVERS": settings.kafka.bootstrap_servers,
        "C360_ACTIVATION__TOPIC_PREFIX": prefix,
        "C360_ACTIVATION__BATCH_SIZE": "50",
        "C360_LAKE__SEGMENTS_FILE": str(segments_file),
    }
    command = [sys.executable, "-m", "c360.cli", "activate", "run", "--quiet"]
    store = Store.open(settings.mongo.uri, fresh_db)
    store.ensure_indexes()
    positions = store.db["activation_positions"]
    events = world_events(generate_world(people=120, events_per_person=6, seed=181))
    writer = ProfileWriter(store)
    batches = [events[i : i + 30] for i in range(0, len(events), 30)]
    erased_id = None
    try:
        kills = 0
        while batches:
            started = datetime.now(UTC)
            proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            try:
                if not kills:  # the first start streams from when it stored its position
                    _wait(lambda p=proc: _alive(p) and positions.count_documents({}) == 2, 120, "first start")
                writer.apply(batches.pop(0))
                _wait(lambda p=proc, t=started: _alive(p) and _saved_since(positions, t), 120, "progress")
                for batch in batches[:2]:  # then killed straight after a write, mid-stream
                    writer.apply(batch)
                del batches[:2]
            finally:
                proc.send_signal(signal.SIGKILL)
                proc.wait()
            kills += 1
            for batch in batches[:3]:  # changes made while it is down
                writer.apply(batch)
            del batches[:3]
            if erased_id is None and kills == 2:
                victim = store.profiles.find_one({"merged_into": {"$exists": False}}, sort=[("_id", 1)])
                assert victim is not None
                erased_id = victim["_id"]
                Eraser(store).erase(erased_id, "test", "crash test erasure")
        assert kills >= 4 and erased_id is not None

        final = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            live_versions = _versions(store)
            _wait(
                lambda: _alive(final) and _caught_up(store, live_versions, settings, prefix),
                180,
                "activation caught up after the kills",
            )
        finally:
            final.send_signal(signal.SIGTERM)
            _, stderr = final.communicate(timeout=60)
        assert final.returncode == 0, stderr.decode()[-2000:]

        records = _read_all(
            settings, [prefix + t for t in ("profiles", "segment_changes", "identity_changes")]
        )
        _check(store, records, prefix, erased_id)
    finally:
        store.close()


def _check(
    store: Store, records: dict[str, list[tuple[str, bytes | None, str]]], prefix: str, erased: str
) -> None:

    # Duplicates: the same idempotency key always carries the same bytes.
    for topic, rows in records.items():
        by_key: dict[str, set[bytes | None]] = defaultdict(set)
        for _, value, key in rows:
            by_key[key + (":tombstone" if value is None else "")].add(value)
        assert all(len(values) == 1 for values in by_key.values()), topic
    profiles = records[prefix + "profiles"]
    assert len({k for _, _, k in profiles}) < len(profiles), (
        "no record was sent twice: the kills proved nothing"
    )

    # No lost change: every version of every profile, in order of first arrival.
    seen: dict[str, list[int]] = defaultdict(list)
    merged: dict[str, str] = {}
    for pid, value, _ in profiles:
        body = None if value is None else json.loads(value)
        if body is not None and body["type"] == "profile" and body["version"] not in seen[pid]:
            seen[pid].append(body["version"])
        if body is not None and body["type"] == "merged":
            merged[pid] = body["merged_into"]
    for doc in store.profiles.find():
        pid = doc["_id"]
        if "merged_into" in doc:
            assert merged.get(pid) == doc["merged_into"], pid
            continue
        assert seen[pid] == list(range(1, doc["version"] + 1)), (pid, seen[pid][:20], doc["version"])

    # The erasure: a notice, then a tombstone, last on its key.
    last = [value for pid, value, _ in profiles if pid == erased]
    assert last[-1] is None and json.loads(last[-2]) == {"type": "erased", "profile_id": erased}
    assert store.profiles.find_one({"_id": erased}) is None

    # Segment changes, replayed per profile without duplicates, give the stored membership and the rule's.
    members: dict[str, set[str]] = defaultdict(set)
    done: set[str] = set()
    for pid, value, key in records[prefix + "segment_changes"]:
        if key in done or value is None:
            continue
        done.add(key)
        change = json.loads(value)
        if "segment" not in change:
            members.pop(pid, None)
        elif change["member"]:
            members[pid].add(change["segment"])
        else:
            members[pid].discard(change["segment"])
    now = datetime.now(UTC)
    rules = {name: TypeAdapter(Rule).validate_python(r) for name, r in RULES.items()}
    count = 0
    for doc in store.profiles.find({"merged_into": {"$exists": False}}):
        stored = set(doc.get("activation", {}).get("segments", {}))
        want = {name for name, rule in rules.items() if verdict(rule, doc, now).member}
        assert members.get(doc["_id"], set()) == stored == want, doc["_id"]
        count += bool(want)
    assert count > 10

    # Every identity event MongoDB still holds went out.
    sent = {key for _, _, key in records[prefix + "identity_changes"]}
    assert set(store.identity_events.distinct("_id")) <= sent
    assert store.identity_events.count_documents({"kind": "merge"}) > 0


def _saved_since(positions: Any, at: datetime) -> bool:
    saved = positions.find_one({"_id": "profiles", "token": {"$exists": True}})
    return saved is not None and saved["at"].replace(tzinfo=UTC) > at


def _versions(store: Store) -> dict[str, int]:
    return {d["_id"]: d.get("version", 0) for d in store.profiles.find({}, {"version": 1})}


def _caught_up(store: Store, before: dict[str, int], settings: Settings, prefix: str) -> bool:
    """MongoDB stopped changing (the memberships written) and its newest versions are on the topic."""
    time.sleep(2)
    now = _versions(store)
    if now != before:
        before.clear()
        before.update(now)
        return False

    sent: dict[str, int] = {}
    for pid, value, _ in _read_all(settings, [prefix + "profiles"])[prefix + "profiles"]:
        if value is not None and json.loads(value).get("type") == "profile":
            sent[pid] = max(sent.get(pid, 0), json.loads(value)["version"])
    live = {
        d["_id"]: d["version"]
        for d in store.profiles.find({"merged_into": {"$exists": False}}, {"version": 1})
    }
    return all(sent.get(pid) == v for pid, v in live.items())


def _read_all(settings: Settings, topics: list[str]) -> dict[str, list[tuple[str, bytes | None, str]]]:
    """Every record of `topics`, in partition order, as (key, value, idempotency key)."""
    found: dict[str, list[tuple[str, bytes | None, str]]] = {t: [] for t in topics}
    for r in read_until_idle(settings.kafka.bootstrap_servers, topics):
        found[r.topic].append((r.key.decode(), r.value, dict(r.headers)["idempotency-key"].decode()))
    return found


def _wait(condition: Any, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for: {what}"
        time.sleep(0.2)


def _alive(proc: subprocess.Popen[bytes]) -> bool:
    if proc.poll() is not None:
        stderr = proc.stderr.read().decode() if proc.stderr else ""
        pytest.fail(f"c360 activate run exited with {proc.returncode}: {stderr[-3000:]}")
    return True
