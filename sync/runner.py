"""The whole sync: profiles, identity events and events, each its own change stream and Delta table(s).

`run` gives every stream its own thread: a stream waiting on MongoDB's getMore or on a Delta commit
(both release the GIL) no longer holds up the others' conversion. profiles_current is merged from
profile_changes by one more thread, so its merges never delay a profile change's commit. The threads
share nothing but the MongoDB client, the `on_commit` callback, which is serialized, and the
profiles_current table, whose writes `CurrentTable` serializes.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from c360.settings import LakeSettings
from operational.store import Store
from sync.convert import event_row, identity_row, profile_row
from sync.current import CurrentTable
from sync.delta_target import DeltaTarget
from sync.stream import BatchReport, CollectionSync, OnCommit, StreamSpec
from sync.tables import EVENTS, IDENTITY_CHANGES, PROFILE_CHANGES, PROFILES_CURRENT

PROFILES = StreamSpec("profiles", PROFILE_CHANGES, profile_row, "whenAvailable", append_resnapshot=True)
IDENTITY_EVENTS = StreamSpec("identity_events", IDENTITY_CHANGES, identity_row)
EVENT_HISTORY = StreamSpec("events", EVENTS, event_row, extra_fields=("updateDescription",))
MIN_CURRENT_PAUSE_S = 0.05  # between catch-ups when lake.current_every_seconds is 0


class LakeSync:
    def __init__(self, store: Store, settings: LakeSettings, on_commit: OnCommit = lambda _: None) -> None:
        # Profiles are updated in place: each update's change needs the document as it was right after.
        store.db.command("collMod", "profiles", changeStreamPreAndPostImages={"enabled": True})
        root, app = settings.path, settings.app_id
        self._settings = settings
        changes = DeltaTarget(root, PROFILE_CHANGES, app)
        self.current = CurrentTable(changes.path, PROFILE_CHANGES, DeltaTarget(root, PROFILES_CURRENT, app))
        self.current.catch_up()  # what a stop or crash left unmerged
        self._current_at = time.monotonic()
        lock = threading.Lock()

        def report(commit: BatchReport) -> None:
            with lock:
                on_commit(commit)

        self.streams = [
            CollectionSync(
                store.db[PROFILES.collection], PROFILES, changes, settings, report, current=self.current
            ),
            *(
                CollectionSync(
                    store.db[spec.collection], spec, DeltaTarget(root, spec.table, app), settings, report
                )
                for spec in (IDENTITY_EVENTS, EVENT_HISTORY)
            ),
        ]

    def step(self) -> None:
        """A little work on every stream in turn, and a catch-up of profiles_current when due, in the
        caller's thread (tests step it)."""
        for stream in self.streams:
            stream.step()
        if time.monotonic() - self._current_at >= self._settings.current_every_seconds:
            self.current.catch_up()
            self._current_at = time.monotonic()

    def close(self) -> None:
        """Commit what each stream has buffered, stop reading and bring profiles_current up to date."""
        for stream in self.streams:
            stream.close()
        self.current.catch_up()

    def run(self, stop: threading.Event) -> None:
        """Until `stop` is set, one thread per stream and one keeping profiles_current; then each stream
        commits what it has buffered and profiles_current catches up. A thread that fails stops the
        others and its exception is raised here."""
        failures: list[BaseException] = []

        def guarded(work: Callable[[], None]) -> Callable[[], None]:
            def body() -> None:
                try:
                    work()
                except BaseException as exc:  # uncommitted work is redone by the next start
                    failures.append(exc)
                    stop.set()

            return body

        def follow(stream: CollectionSync) -> None:
            while not stop.is_set():
                stream.step()
            stream.close()

        def keep_current() -> None:
            pause = max(self._settings.current_every_seconds, MIN_CURRENT_PAUSE_S)
            while not stop.wait(pause):
                self.current.catch_up()

        threads = [
            threading.Thread(target=guarded(lambda s=s: follow(s)), name=f"sync-{s.collection}")
            for s in self.streams
        ]
        threads.append(threading.Thread(target=guarded(keep_current), name="sync-profiles_current"))
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if failures:
            raise failures[0]
        self.current.catch_up()  # after the profile stream's last commit
