"""The whole sync: profiles, identity events and events, each its own change stream and Delta table(s).

The work comes in three shares (sync/share.py): profiles with profiles_current, merged from
profile_changes; identity events; events. `run` gives each share a process of its own
(sync/processes.py): converting profile changes takes a core's worth of Python under load, and the
streams no longer wait on one GIL. `step` and `close` do the same work in the caller's thread (tests
step it). Every commit's `BatchReport` reaches `on_commit` in this process, one at a time, and the
metrics from there.
"""

from __future__ import annotations

import os
import threading

from c360.settings import LakeSettings
from c360.storage import location
from operational.store import Store
from sync import metrics
from sync.convert import event_row, identity_row, profile_row
from sync.lease import LakeLease, LeaseLost
from sync.processes import Job, run_workers
from sync.share import Share, ShareSync, batches, open_targets
from sync.stream import BatchReport, OnCommit, StreamSpec
from sync.tables import EVENTS, IDENTITY_CHANGES, PROFILE_CHANGES, PROFILES_CURRENT

PROFILES = StreamSpec("profiles", PROFILE_CHANGES, profile_row, "whenAvailable", append_resnapshot=True)
IDENTITY_EVENTS = StreamSpec("identity_events", IDENTITY_CHANGES, identity_row)
EVENT_HISTORY = StreamSpec("events", EVENTS, event_row, extra_fields=("updateDescription",))
SHARES = (Share(PROFILES, current=PROFILES_CURRENT), Share(IDENTITY_EVENTS), Share(EVENT_HISTORY))


class LakeSync:
    def __init__(self, store: Store, settings: LakeSettings, on_commit: OnCommit = lambda _: None) -> None:
        # Profiles are updated in place: each update's change needs the document as it was right after.
        store.db.command("collMod", "profiles", changeStreamPreAndPostImages={"enabled": True})
        self._store = store
        self._settings = settings
        self._on_commit = on_commit
        self.lake = location(settings.path, settings.storage)
        self._stops: list[threading.Event] = []
        self._lease = LakeLease.acquire(
            self.lake, settings.lease_seconds, settings.allow_store_without_conditional_put
        )
        try:  # the batches each share's tables hold now: a worker, or `shares`, refuses others later
            self._expect = [batches(open_targets(s, self.lake, settings.app_id)) for s in SHARES]
        except BaseException:
            self._lease.release()
            raise
        self._shares: list[ShareSync] | None = None
        self._lease.keep(on_lost=self._lost)

    @property
    def shares(self) -> list[ShareSync]:
        """The shares for `step` and `close`, in this process. Built on first use, not for `run`, whose
        workers build their own: a share's start does real work (a profiles_current catch-up, a new
        epoch's first commit) that each restart of `c360 sync run` would otherwise do twice."""
        if self._shares is None:
            self._shares = [
                ShareSync(s, self._store.db, self._settings, self.lake, self._report, expect=expect)
                for s, expect in zip(SHARES, self._expect, strict=True)
            ]
        return self._shares

    def step(self) -> None:
        """A little work on every share in turn, in the caller's thread."""
        self._lease.check()
        for share in self.shares:
            share.step()

    def close(self) -> None:
        """Commit what each stream has buffered, stop reading, bring profiles_current up to date and
        hand the lake back."""
        try:
            self._lease.check()
            for share in self.shares:
                share.close()
        finally:
            self._lease.release()

    def release(self) -> None:
        """Hand the lake back without committing anything more (after `run`, or to abandon this sync)."""
        self._lease.release()

    def run(self, stop: threading.Event) -> None:
        """Until `stop` is set, one process per share; then each commits what it has buffered and
        profiles_current catches up. A worker that fails stops the others and its exception is raised
        here; so is `LeaseLost` if another sync took the lake over meanwhile. After `run`, this object's own
        shares are out of date and the lake is handed back: use a new `LakeSync`."""
        if self._store.uri is None:
            raise ValueError("the sync's workers need a store opened from a URI (Store.open)")
        jobs = [
            Job(
                share=spec,
                uri=self._store.uri,
                database=self._store.db.name,
                settings=self._settings,
                lake=self.lake,
                expect=expect,
                parent=os.getpid(),
            )
            for spec, expect in zip(SHARES, self._batches(), strict=True)
        ]
        self._stops.append(stop)
        try:
            self._lease.check()
            run_workers(jobs, self._report, stop)
            self._lease.check()
        finally:
            self._lease.release()

    def _batches(self) -> list[dict[str, int]]:
        """Each share's batches as this object last saw them (stepped, or as opened)."""
        return self._expect if self._shares is None else [share.batches() for share in self._shares]

    def _lost(self, _: LeaseLost) -> None:
        """Another sync took the lake over: stop (its commits and ours are kept apart by the Delta log)."""
        for stop in self._stops:
            stop.set()

    def _report(self, commit: BatchReport) -> None:
        metrics.record(commit)
        self._on_commit(commit)
