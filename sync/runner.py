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
from operational.store import Store
from sync import metrics
from sync.convert import event_row, identity_row, profile_row
from sync.processes import Job, run_workers
from sync.share import Share, ShareSync
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
        self.shares = [ShareSync(share, store.db, settings, self._report) for share in SHARES]

    def step(self) -> None:
        """A little work on every share in turn, in the caller's thread."""
        for share in self.shares:
            share.step()

    def close(self) -> None:
        """Commit what each stream has buffered, stop reading and bring profiles_current up to date."""
        for share in self.shares:
            share.close()

    def run(self, stop: threading.Event) -> None:
        """Until `stop` is set, one process per share; then each commits what it has buffered and
        profiles_current catches up. A worker that fails stops the others and its exception is raised
        here. After `run`, this object's own shares are out of date: use a new `LakeSync`."""
        if self._store.uri is None:
            raise ValueError("the sync's workers need a store opened from a URI (Store.open)")
        jobs = [
            Job(
                share=spec,
                uri=self._store.uri,
                database=self._store.db.name,
                settings=self._settings,
                expect=share.batches(),
                parent=os.getpid(),
            )
            for spec, share in zip(SHARES, self.shares, strict=True)
        ]
        run_workers(jobs, self._report, stop)

    def _report(self, commit: BatchReport) -> None:
        metrics.record(commit)
        self._on_commit(commit)
