"""`c360 sync run` gives each share of the sync (profiles with profiles_current, identity events, events)
a worker process, and no worker outlives a SIGKILLed sync or commits after it: one still committing
after a restart would write changes twice."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from c360.settings import Settings
from c360.storage import Location
from c360.world import generate_world
from c360.world_events import world_events
from operational.store import Store
from tests.lake.support import apply, commits, read, sync_env

pytestmark = pytest.mark.e2e

SHARES = 3


def test_each_share_runs_in_a_worker_that_dies_with_the_sync(
    lake_settings: Settings, lake: Location, store: Store
) -> None:
    events = world_events(generate_world(people=200, events_per_person=6, seed=67))
    first, later = events[: len(events) // 2], events[len(events) // 2 :]
    env = sync_env(lake_settings, batch_max_seconds="0.2", current_every_seconds="0.1")
    command = [sys.executable, "-m", "c360.cli", "sync", "run", "--quiet"]
    proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    workers: list[int] = []
    try:
        apply(store, first, batch=100)
        deadline = time.monotonic() + 90
        while _rows(lake) != (len(first), store.profiles.count_documents({})):  # every table written
            assert proc.poll() is None, proc.stderr.read().decode()[-2000:] if proc.stderr else ""
            assert time.monotonic() < deadline, f"not synced in 90 s: {_rows(lake)}"
            time.sleep(0.1)
        time.sleep(1)  # the last profiles_current merges: the sync is idle when killed
        workers = _workers(proc.pid)
        assert len(workers) == SHARES, workers
        # named for their share, so that top and ps tell which one is busy
        names = sorted(Path(f"/proc/{w}/comm").read_text().strip() for w in workers)
        assert names == ["sync-events", "sync-identity_e", "sync-profiles"], names
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        if proc.stderr:
            proc.stderr.close()
    before = commits(lake)
    apply(store, later, batch=100)  # what a surviving worker would stream and commit
    time.sleep(2)
    assert not [pid for pid in workers if _alive(pid)], "workers outlived the SIGKILLed sync"
    assert commits(lake) == before, "a worker committed after the sync was killed"


def _rows(lake: Location) -> tuple[int, int]:
    """Rows of events and of profiles_current (0 before a table exists)."""
    tables = [lake.path / t / "_delta_log" for t in ("events", "profiles_current")]
    if not all(log.exists() for log in tables):
        return (0, 0)
    return (read(lake, "events", ["event_id"]).num_rows, read(lake, "profiles_current", ["seq"]).num_rows)


def _workers(pid: int) -> list[int]:
    """The sync's worker processes (sync/worker.py), from /proc."""
    children = [
        int(child)
        for task in Path(f"/proc/{pid}/task").iterdir()
        for child in (task / "children").read_text().split()
    ]
    return [c for c in children if b"sync.worker" in Path(f"/proc/{c}/cmdline").read_bytes()]


def _alive(pid: int) -> bool:
    """Running, as opposed to gone or a zombie waiting for a reaper."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"
