"""The sync killed with SIGKILL at random moments while MongoDB changes keep coming: afterwards Delta
holds every change exactly once over the whole history (one epoch: every event and merge record once,
every profile version from its first row on once, none lost) and the lake's events reproduce every
profile (reconcile: no drift). On local disk and on an S3-protocol server (moto), where each restart also
takes over the killed sync's lease."""

from __future__ import annotations

import random
import select
import signal
import subprocess
import sys
import threading
import time

import pytest

from c360.settings import Settings
from c360.storage import Location
from c360.world import generate_world
from c360.world_events import world_events
from lakehouse.reconcile import RECONCILED, reconcile
from lakehouse.tables import Lakehouse
from operational.store import Store
from operational.writer import ProfileWriter
from sync.runner import LakeSync
from tests.lake.conftest import ON_BOTH
from tests.lake.support import (
    assert_delta_holds_every_change_once,
    read,
    step_until_idle,
    sync_env,
)

pytestmark = pytest.mark.e2e

KILLS = 20
WRITE_BATCH = 25


@ON_BOTH
def test_sync_killed_twenty_times_leaves_every_change_exactly_once(
    lake_settings: Settings, lake: Location, store: Store
) -> None:
    world = generate_world(people=300, events_per_person=10, seed=62)
    events = world_events(world)
    kills = 0
    failure: list[BaseException] = []

    def write() -> None:
        """Paced by the kills: before kill k it may write (k+1)/(KILLS+1) of the events, so every kill
        lands while changes are still arriving."""
        writer = ProfileWriter(store)
        done = 0
        try:
            while done < len(events):
                if done >= len(events) * (kills + 1) / (KILLS + 1):
                    time.sleep(0.02)
                    continue
                writer.apply(events[done : done + WRITE_BATCH])
                done += WRITE_BATCH
        except BaseException as exc:
            failure.append(exc)

    # Batches of 100: the first start's snapshot takes several chunks, and each life several commits.
    env = sync_env(lake_settings, batch_size="100", batch_max_seconds="0.2", compact_every="15")
    command = [sys.executable, "-m", "tests.lake.sync_host"]  # `c360 sync run` without the CLI's imports
    rng = random.Random(6)
    writer = threading.Thread(target=write)
    writer.start()
    try:
        while kills < KILLS:
            proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            assert proc.stdout is not None and proc.stderr is not None
            try:
                # Its first commit (a line from the host) says it is running and committing: now kill it.
                assert select.select([proc.stdout], [], [], 120)[0], "the sync made no commit in 120 s"
                assert proc.stdout.readline(), proc.stderr.read().decode()[-2000:]  # or it exited
                time.sleep(rng.uniform(0, 0.5))
            finally:
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                proc.stdout.close()
                proc.stderr.close()
            kills += 1
    finally:
        kills = KILLS
        writer.join()
    assert not failure, failure
    assert store.events.count_documents({}) == len(events)
    assert store.identity_events.count_documents({}) > 0  # merges happened: identity_changes is tested

    reports: list[object] = []
    sync = LakeSync(store, lake_settings.lake, reports.append)
    # What the last kills left unsynced: on moto under a loaded machine (load 19), 90 s.
    step_until_idle(sync.step, lambda: len(reports), timeout_s=300)
    sync.close()
    for table in ("events", "identity_changes", "profile_changes"):  # no snapshot was started over
        assert set(read(lake, table, ["sync_epoch"]).column("sync_epoch").to_pylist()) == {0}, table
    assert_delta_holds_every_change_once(store, lake)
    report = reconcile(Lakehouse(lake).duckdb(), store.live_profiles(RECONCILED))
    assert (report.profiles_checked, dict(report.drift)) == (len(world.people), {}), report.examples
