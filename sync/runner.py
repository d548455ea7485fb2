"""The whole sync: profiles, identity events and events, each its own change stream and Delta table(s),
stepped in turn by one thread until stopped."""

from __future__ import annotations

import threading

from c360.settings import LakeSettings
from operational.store import Store
from sync.convert import event_row, identity_row, profile_row
from sync.delta_target import DeltaTarget
from sync.stream import CollectionSync, OnCommit, StreamSpec
from sync.tables import EVENTS, IDENTITY_CHANGES, PROFILE_CHANGES, PROFILES_CURRENT

PROFILES = StreamSpec("profiles", PROFILE_CHANGES, profile_row, "whenAvailable", append_resnapshot=True)
IDENTITY_EVENTS = StreamSpec("identity_events", IDENTITY_CHANGES, identity_row)
EVENT_HISTORY = StreamSpec("events", EVENTS, event_row)


class LakeSync:
    def __init__(self, store: Store, settings: LakeSettings, on_commit: OnCommit = lambda _: None) -> None:
        # Profiles are updated in place: each update's change needs the document as it was right after.
        store.db.command("collMod", "profiles", changeStreamPreAndPostImages={"enabled": True})
        root, app = settings.path, settings.app_id
        current = DeltaTarget(root, PROFILES_CURRENT, app)
        self.streams = [
            CollectionSync(
                store.db[PROFILES.collection],
                PROFILES,
                DeltaTarget(root, PROFILE_CHANGES, app),
                settings,
                on_commit,
                current=current,
            ),
            *(
                CollectionSync(
                    store.db[spec.collection], spec, DeltaTarget(root, spec.table, app), settings, on_commit
                )
                for spec in (IDENTITY_EVENTS, EVENT_HISTORY)
            ),
        ]

    def step(self) -> None:
        for stream in self.streams:
            stream.step()

    def run(self, stop: threading.Event) -> None:
        """Until `stop` is set; then commits what is buffered."""
        try:
            while not stop.is_set():
                self.step()
        finally:
            for stream in self.streams:
                stream.close()
