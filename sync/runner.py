"""The whole sync: profiles, identity events and events, each its own change stream and Delta table(s).

`run` gives every stream its own thread: a stream waiting on MongoDB's getMore or on a Delta commit
(both release the GIL) no longer holds up the others' conversion. The streams share nothing but the
MongoDB client and the `on_commit` callback, which is serialized.
"""

from __future__ import annotations

import threading

from c360.settings import LakeSettings
from operational.store import Store
from sync.convert import event_row, identity_row, profile_row
from sync.delta_target import DeltaTarget
from sync.stream import BatchReport, CollectionSync, OnCommit, StreamSpec
from sync.tables import EVENTS, IDENTITY_CHANGES, PROFILE_CHANGES, PROFILES_CURRENT

PROFILES = StreamSpec("profiles", PROFILE_CHANGES, profile_row, "whenAvailable", append_resnapshot=True)
IDENTITY_EVENTS = StreamSpec("identity_events", IDENTITY_CHANGES, identity_row)
EVENT_HISTORY = StreamSpec("events", EVENTS, event_row, extra_fields=("updateDescription",))


class LakeSync:
    def __init__(self, store: Store, settings: LakeSettings, on_commit: OnCommit = lambda _: None) -> None:
        # Profiles are updated in place: each update's change needs the document as it was right after.
        store.db.command("collMod", "profiles", changeStreamPreAndPostImages={"enabled": True})
        root, app = settings.path, settings.app_id
        current = DeltaTarget(root, PROFILES_CURRENT, app)
        lock = threading.Lock()

        def report(commit: BatchReport) -> None:
            with lock:
                on_commit(commit)

        self.streams = [
            CollectionSync(
                store.db[PROFILES.collection],
                PROFILES,
                DeltaTarget(root, PROFILE_CHANGES, app),
                settings,
                report,
                current=current,
            ),
            *(
                CollectionSync(
                    store.db[spec.collection], spec, DeltaTarget(root, spec.table, app), settings, report
                )
                for spec in (IDENTITY_EVENTS, EVENT_HISTORY)
            ),
        ]

    def step(self) -> None:
        """A little work on every stream in turn, in the caller's thread (tests step it)."""
        for stream in self.streams:
            stream.step()

    def close(self) -> None:
        """Commit what each stream has buffered and stop reading (after stepping)."""
        for stream in self.streams:
            stream.close()

    def run(self, stop: threading.Event) -> None:
        """Until `stop` is set, one thread per stream; then each commits what it has buffered. A stream
        that fails stops the others and its exception is raised here."""
        failures: list[BaseException] = []

        def follow(stream: CollectionSync) -> None:
            try:
                while not stop.is_set():
                    stream.step()
                stream.close()
            except BaseException as exc:  # its buffer stays uncommitted: the next start resumes before it
                failures.append(exc)
                stop.set()

        threads = [
            threading.Thread(target=follow, args=(s,), name=f"sync-{s.collection}") for s in self.streams
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if failures:
            raise failures[0]
