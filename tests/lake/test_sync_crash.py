"""The sync killed with SIGKILL at random moments while MongoDB changes keep coming: afterwards Delta
holds every change exactly once and the lake's events reproduce every profile (reconcile: no drift). On
local disk and on an S3-protocol server (moto), where each restart also takes over the killed sync's
lease."""

from __future__ import annotations

import random
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
    commits,
    read,
    step_until_idle,
    sync_env,
)

pytestmark = pytest.mark.e2e

KILLS = 20
WRITE_BATCH = 50


@ON_BOTH
def test_sync_killed_twenty_times_leaves_every_change_exactly_once(
    lake_settings: Settings, lake: Location, store: Store
) -> None:
    world = generate_world(people=1_000, events_per_person=12, seed=62)
    events = world_events(world)
    kills = 0
    failure: list[BaseException] = []

    def write() -> None:
        """Paced by the kills: before kill k it may write k/(KILLS+1) of the events, so every kill
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

    env = sync_env(lake_settings, batch_size="300", batch_max_seconds="0.2", compact_every="15")
    command = [sys.executable, "-m", "c360.cli", "sync", "run", "--quiet"]
    rng = random.Random(6)
    writer = threading.Thread(target=write)
    writer.start()
    try:
        while kills < KILLS:
            before = commits(lake)
            proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            try:
                deadline = time.monotonic() + 60
                while commits(lake) <= before:  # it is running and committing: now kill it
                    assert proc.poll() is None, proc.stderr.read().decode()[-2000:] if proc.stderr else ""
                    assert time.monotonic() < deadline, "the sync made no commit in 60 s"
                    time.sleep(0.02)
                time.sleep(rng.uniform(0, 0.4))
            finally:
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                if proc.stderr:
                    proc.stderr.close()
            kills += 1
    finally:
        kills = KILLS
        writer.join()
    assert not failure, failure
    assert store.events.count_documents({}) == len(events)

    reports: list[object] = []
    sync = LakeSync(store, lake_settings.lake, reports.append)
    # What the last kills left unsynced, in this process: on moto under a loaded machine, minutes.
    step_until_idle(sync.step, lambda: len(reports), timeout_s=600)
    sync.close()
    # A snapshot that spans lives for longer than MongoDB keeps its history (SnapshotTooOld; on moto under
    # load) is started over as a new epoch, by design: profile_changes then holds each profile from that
    # epoch's snapshot row on. Events and identity changes are checked whole either way.
    epoch = max(read(lake, "profile_changes", ["sync_epoch"]).column("sync_epoch").to_pylist())
    assert_delta_holds_every_change_once(store, lake, epoch=epoch)
    report = reconcile(Lakehouse(lake).duckdb(), store.live_profiles(RECONCILED))
    assert (report.profiles_checked, dict(report.drift)) == (len(world.people), {}), report.examples
