"""The whole pipeline on genuine servers: a generated world through Kafka into MongoDB profiles, checked
person by person against the generator's ground truth; then replayed, and interrupted by SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime

import pytest
from pymongo.errors import PyMongoError

from c360.bootstrap import ingest_loop
from c360.world import generate_world
from ingest.events import build_event
from ingest.records import SourceRecord
from tests.e2e.support import (
    Pipeline,
    assert_profiles_match_ground_truth,
    kill_writer,
    live_profiles,
    run_until,
    wait_for,
)
from tests.held_keys import assert_held_keys_match_edges

pytestmark = pytest.mark.e2e


def test_generated_world_matches_ground_truth_and_replay_changes_nothing(pipeline: Pipeline) -> None:
    world = generate_world(people=1_500, events_per_person=15, seed=11)
    total = pipeline.publish(world.messages)

    with ingest_loop(pipeline.settings) as loop:
        run_until(loop, lambda: loop.totals.records >= total)
    assert (loop.totals.applied, loop.totals.dead_letters) == (total, 0)
    assert pipeline.store.events.count_documents({}) == total
    assert_profiles_match_ground_truth(world, pipeline.store)
    assert assert_held_keys_match_edges(pipeline.store) == pipeline.store.identities.count_documents({})
    before = sorted(live_profiles(pipeline.store), key=lambda p: p["_id"])

    # Replay: the very same records published again reach the pipeline at new offsets.
    pipeline.publish(world.messages)
    with ingest_loop(pipeline.settings) as replay:
        run_until(replay, lambda: replay.totals.records >= total)
    assert (replay.totals.applied, replay.totals.duplicates) == (0, total)
    assert sorted(live_profiles(pipeline.store), key=lambda p: p["_id"]) == before
    assert pipeline.store.events.count_documents({}) == total


def test_killed_ingest_resumes_without_loss_or_double_counting(pipeline: Pipeline) -> None:
    world = generate_world(people=2_000, events_per_person=15, seed=12)
    total = pipeline.publish(world.messages)
    env = {**os.environ, **pipeline.env(), "C360_INGEST__BATCH_SIZE": "200"}
    command = [sys.executable, "-m", "c360.cli", "ingest", "run", "--quiet"]
    events = pipeline.store.events

    kills = 0
    for fraction in (0.2, 0.5, 0.8):
        proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            wait_for(
                lambda f=fraction, p=proc: _alive(p) and events.count_documents({}) >= total * f,
                120,
                f"{fraction:.0%} ingested",
            )
        finally:
            kill_writer(proc, pipeline.store)
        kills += 1
    assert events.count_documents({}) < total, (
        "the run finished before the last kill: the test proved nothing"
    )

    final = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_for(
            lambda: _alive(final) and events.count_documents({}) >= total, 180, "all ingested after restarts"
        )
        time.sleep(1)  # anything still in flight would now show up as a surplus below
    finally:
        final.send_signal(signal.SIGTERM)
        _, stderr = final.communicate(timeout=60)
    assert final.returncode == 0, stderr.decode()[-2000:]
    assert kills == 3
    assert events.count_documents({}) == total
    assert_profiles_match_ground_truth(world, pipeline.store)


def _alive(proc: subprocess.Popen[bytes]) -> bool:
    """Fail fast, with the ingest process's own error, if it died on its own."""
    if proc.poll() is not None:
        stderr = proc.stderr.read().decode() if proc.stderr else ""
        pytest.fail(f"ingest exited with {proc.returncode}: {stderr[-3000:]}")
    return True


def test_a_write_after_the_store_closed_fails_instead_of_retrying_for_ever(pipeline: Pipeline) -> None:
    """Seen: a benchmark stopped by SIGTERM closed the store under its writer thread, which then retried
    'Cannot use MongoClient after close' for an hour, keeping the process and its mongod alive."""
    with ingest_loop(pipeline.settings) as loop:
        pass  # leaving closes the store's client
    record = SourceRecord("orders", 0, 0, None, b"{}", 0)
    event = build_event(
        event_id="late",
        source="test",
        type="order",
        occurred_at=datetime.now(UTC),
        identifiers=[{"type": "email", "value": "late@x.com"}],
    )
    outcome: list[BaseException] = []

    def write() -> None:
        try:
            loop._apply([(record, event)], None)
        except BaseException as exc:  # what the writer thread would end with
            outcome.append(exc)

    thread = threading.Thread(target=write, daemon=True)
    thread.start()
    thread.join(timeout=30)
    assert not thread.is_alive(), "the write is still retrying against a closed client"
    assert isinstance(outcome[0], PyMongoError)
