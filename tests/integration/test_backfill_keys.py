"""`c360 backfill-keys`: profiles written before the `identity_keys` copy existed get it from the edges,
while the writer keeps adding keys, merging and moving them."""

from __future__ import annotations

import threading

import pytest
from typer.testing import CliRunner

from c360.cli import app
from c360.settings import Settings
from c360.world import generate_world
from c360.world_events import world_events
from operational.backfill_keys import CHUNK, backfill
from operational.store import Store
from operational.writer import ProfileWriter
from tests.held_keys import assert_held_keys_match_edges

pytestmark = pytest.mark.integration


def test_old_profiles_get_their_keys_while_the_writer_runs(store: Store) -> None:
    events = world_events(generate_world(people=1_000, events_per_person=6, seed=21))
    half = len(events) // 2
    writer = ProfileWriter(store)
    for start in range(0, half, 100):
        writer.apply(events[start : min(start + 100, half)])
    # As a c360 from before the copy left them: no profile holds one, and lookups ask the edges.
    store.profiles.update_many({}, {"$unset": {"identity_keys": ""}})
    legacy = store.profiles.count_documents({"merged_into": {"$exists": False}})
    assert legacy > 3 * CHUNK  # several chunks, for the writer to race
    with pytest.raises(AssertionError):
        assert_held_keys_match_edges(store)

    # The rest of the world arrives meanwhile: new keys on old profiles ($addToSet gives them only the
    # new key), new profiles, merges of old ones.
    started = threading.Event()
    failures: list[BaseException] = []

    def rest() -> None:
        try:
            for start in range(half, len(events), 50):
                writer.apply(events[start : start + 50])
                started.set()
        except BaseException as exc:  # the backfill must not make the writer give up
            failures.append(exc)
            started.set()

    thread = threading.Thread(target=rest)
    thread.start()
    started.wait(60)
    chunks: list[int] = []
    changed = backfill(store, chunks.append)
    thread.join()

    assert failures == []
    assert store.events.count_documents({}) == len({e.event_id for e in events})
    assert changed > 0
    assert len(chunks) > 3 and all(0 < n <= CHUNK for n in chunks)  # progress, chunk by chunk
    assert assert_held_keys_match_edges(store) == store.identities.count_documents({})
    assert backfill(store) == 0  # nothing left to change: no version bumped for nothing


def test_the_command_reports_what_it_changed(
    settings: Settings, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    ProfileWriter(store).apply(world_events(generate_world(people=20, events_per_person=4, seed=3)))
    store.profiles.update_many({}, {"$unset": {"identity_keys": ""}})
    live = store.profiles.count_documents({"merged_into": {"$exists": False}})
    monkeypatch.setenv("C360_MONGO__URI", settings.mongo.uri)
    monkeypatch.setenv("C360_MONGO__DATABASE", store.db.name)
    result = CliRunner().invoke(app, ["backfill-keys"])
    assert result.exit_code == 0, result.output
    assert f"{live:,} of {live:,} live profiles given their identity keys" in result.output
    assert assert_held_keys_match_edges(store) > 0
