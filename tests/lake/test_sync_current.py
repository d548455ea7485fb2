"""profiles_current is merged by its own thread (in the profile worker) in `sync run`: while the sync
runs it reaches the newest version of every profile, SIGKILLs that land mid-merge leave nothing lost or
doubled in it, and a merge that cannot commit, because another writer got there first (before the run
or during it), stops every worker and is raised with its own type in the parent."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from deltalake import DeltaTable

from c360.settings import Settings
from c360.storage import Location
from c360.world import generate_world
from c360.world_events import world_events
from operational.store import Store
from sync.delta_target import ConcurrentSyncError, DeltaTarget
from sync.runner import LakeSync
from sync.tables import PROFILES_CURRENT
from tests.lake.support import apply, assert_delta_holds_every_change_once, read, sync_env

pytestmark = pytest.mark.e2e

LIVES = 6


def test_a_running_sync_keeps_profiles_current_through_kills(
    lake_settings: Settings, lake: Location, store: Store
) -> None:
    events = world_events(generate_world(people=300, events_per_person=10, seed=65))
    env = sync_env(
        lake_settings,
        batch_size="200",
        batch_max_seconds="0.2",
        current_every_seconds="0.1",
        compact_every="4",
    )
    rng = random.Random(65)
    part = len(events) // (LIVES + 1) + 1
    for life in range(LIVES):  # each life: changes arrive, profiles_current merges, then a SIGKILL
        merges = _merges(lake)
        with _sync_process(env) as proc:
            apply(store, events[life * part : (life + 1) * part], batch=50)
            _wait_for(lambda m=merges: _merges(lake) > m, proc)
            time.sleep(rng.uniform(0, 0.3))

    with _sync_process(env) as proc:  # killed too: no close() catches up for it, only the workers
        apply(store, events[LIVES * part :], batch=50)
        # Every worker, not only the profile one: on a loaded machine the events worker of a fresh
        # process was still 498 events short when profiles_current had caught up.
        _wait_for(lambda: _current(lake) == _latest(store) and _holds_every_change(store, lake), proc)
    assert_delta_holds_every_change_once(store, lake)
    assert _current(lake) == _latest(store)


def test_a_commit_by_another_writer_before_run_stops_the_sync_with_its_error(
    lake_settings: Settings, lake: Location, store: Store
) -> None:
    apply(store, world_events(generate_world(people=100, events_per_person=6, seed=66)), batch=100)
    settings = lake_settings.lake.model_copy(update={"current_every_seconds": 0.05})
    sync = LakeSync(store, settings)
    rogue = DeltaTarget(lake, PROFILES_CURRENT, settings.app_id)  # a second sync's, same app id
    rogue.merge_latest(PROFILES_CURRENT.schema.empty_table(), rogue.batch + 1)
    stop = threading.Event()  # the profile worker finds the tables moved on since LakeSync read them
    deadline = threading.Timer(30, stop.set)
    deadline.start()
    try:
        with pytest.raises(ConcurrentSyncError):
            sync.run(stop)
        assert deadline.is_alive(), "the sync ran on until stopped: the failed merge did not stop it"
    finally:
        deadline.cancel()


def test_a_worker_whose_merge_fails_mid_run_stops_the_sync_with_its_error(
    lake_settings: Settings, lake: Location, store: Store
) -> None:
    events = world_events(generate_world(people=100, events_per_person=6, seed=68))
    half = len(events) // 2
    apply(store, events[:half], batch=100)
    settings = lake_settings.lake.model_copy(update={"current_every_seconds": 0.05})
    sync = LakeSync(store, settings)
    stop = threading.Event()
    failures: list[BaseException] = []

    def run() -> None:
        try:
            sync.run(stop)
        except BaseException as exc:
            failures.append(exc)

    runner = threading.Thread(target=run)
    runner.start()
    try:
        _wait_for(lambda: _merged(lake.path, settings.app_id), None)  # the snapshot, merged
        rogue = DeltaTarget(lake, PROFILES_CURRENT, settings.app_id)  # a second sync's, same app id
        rogue.merge_latest(PROFILES_CURRENT.schema.empty_table(), rogue.batch + 1)
        apply(store, events[half:], batch=100)  # the profile worker's next merge finds that commit
        runner.join(30)
        batches = _batches(lake.path, settings.app_id)
        assert not runner.is_alive(), f"the sync ran on past the failed merge; {batches}"
    finally:
        stop.set()
        runner.join()
    assert [type(f) for f in failures] == [ConcurrentSyncError], failures


def _batches(lake: Path, app_id: str) -> dict[str, int | None]:
    """The sync's batch in each table: which step did not happen, when it does not stop."""
    return {
        t.name: DeltaTable(str(t)).transaction_version(app_id)
        for t in sorted(lake.iterdir())
        if (t / "_delta_log").exists()
    }


def _merged(lake: Path, app_id: str) -> bool:
    """profiles_current holds every batch of profile_changes, the snapshot's chunk included."""
    logs = [lake / t / "_delta_log" for t in ("profile_changes", "profiles_current")]
    if not all(log.exists() for log in logs):
        return False
    changes, current = (DeltaTable(str(log.parent)).transaction_version(app_id) or 0 for log in logs)
    return changes >= 2 and current == changes


@contextmanager
def _sync_process(env: dict[str, str]) -> Iterator[subprocess.Popen[bytes]]:
    """`c360 sync run` in a child process, killed with SIGKILL on leaving the block."""
    command = [sys.executable, "-m", "c360.cli", "sync", "run", "--quiet"]
    proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        yield proc
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        if proc.stderr:
            proc.stderr.close()


def _wait_for(done: Callable[[], bool], proc: subprocess.Popen[bytes] | None, timeout_s: float = 90) -> None:
    deadline = time.monotonic() + timeout_s
    while not done():
        assert proc is None or proc.poll() is None, proc.stderr.read().decode()[-2000:] if proc.stderr else ""
        assert time.monotonic() < deadline, f"not reached in {timeout_s} s"
        time.sleep(0.05)


def _holds_every_change(store: Store, lake: Location) -> bool:
    try:
        assert_delta_holds_every_change_once(store, lake)
    except AssertionError:
        return False
    return True


def _merges(lake: Location) -> int:
    """Commits to profiles_current (counting log files needs no Delta reader)."""
    log = lake.path / "profiles_current" / "_delta_log"
    return sum(f.endswith(".json") for f in os.listdir(log)) if log.exists() else 0


def _current(lake: Location) -> list[tuple[str, int | None]]:
    if not (lake.path / "profiles_current" / "_delta_log").exists():
        return []
    rows = read(lake, "profiles_current", ["profile_id", "version"]).to_pylist()
    return sorted((r["profile_id"], r["version"]) for r in rows)


def _latest(store: Store) -> list[tuple[str, int | None]]:
    return sorted((d["_id"], d.get("version")) for d in store.profiles.find({}, {"version": 1}))
