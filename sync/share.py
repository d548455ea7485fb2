"""One share of the sync, everything one worker process does: a change stream into its Delta table and,
for profiles, the profiles_current table merged from it.

`step`/`close` do a little of the work in the caller's thread (tests step it). `follow` runs it until
stopped: the stream on one thread and the profiles_current catch-ups on another, so a merge never
delays a change's commit; a thread that fails stops the other and its exception is raised.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from pymongo.database import Database

from c360.settings import LakeSettings
from c360.storage import Location
from sync.current import CurrentTable
from sync.delta_target import ConcurrentSyncError, DeltaTarget
from sync.stream import CollectionSync, OnCommit, StreamSpec
from sync.tables import Table

MIN_CURRENT_PAUSE_S = 0.05  # between catch-ups when lake.current_every_seconds is 0


@dataclass(frozen=True)
class Share:
    spec: StreamSpec
    current: Table | None = None  # the newest row per key of spec.table, merged by the same worker

    @property
    def name(self) -> str:
        return self.spec.collection


class ShareSync:
    def __init__(
        self,
        share: Share,
        db: Database,
        settings: LakeSettings,
        lake: Location,
        on_commit: OnCommit,
        expect: dict[str, int] | None = None,
    ) -> None:
        """`lake`: where settings.path points (c360.storage.location). `expect`: the batches another
        object of this share saw (`batches()`); a table that has moved on since was written by someone
        else, and this share refuses to start."""
        self._settings = settings
        self.targets = open_targets(share, lake, settings.app_id)
        if expect is not None and self.batches() != expect:
            raise ConcurrentSyncError(f"{share.name}: the tables hold batches {self.batches()}, not {expect}")
        self.current: CurrentTable | None = None
        if share.current is not None:
            self.current = CurrentTable(self.targets[0].path, share.spec.table, self.targets[1])
            self.current.catch_up()  # what a stop or crash left unmerged
        self._current_at = time.monotonic()
        self.stream = CollectionSync(
            db[share.spec.collection], share.spec, self.targets[0], settings, on_commit, current=self.current
        )

    def batches(self) -> dict[str, int]:
        """The last batch of each table this share writes, as this object saw them."""
        return batches(self.targets)

    def step(self) -> None:
        """A little work on the stream, and a catch-up of profiles_current when due."""
        self.stream.step()
        if (
            self.current is not None
            and time.monotonic() - self._current_at >= self._settings.current_every_seconds
        ):
            self.current.catch_up()
            self._current_at = time.monotonic()

    def close(self) -> None:
        """Commit what the stream has buffered, stop reading and bring profiles_current up to date."""
        self.stream.close()
        if self.current is not None:
            self.current.catch_up()

    def follow(self, stop: threading.Event) -> None:
        """Until `stop` is set; then the stream commits what it has buffered and profiles_current catches
        up. A thread that fails stops the other and its exception is raised here."""
        failures: list[BaseException] = []

        def guarded(work: Callable[[], None]) -> Callable[[], None]:
            def body() -> None:
                try:
                    work()
                except BaseException as exc:  # uncommitted work is redone by the next start
                    failures.append(exc)
                    stop.set()

            return body

        def stream() -> None:
            while not stop.is_set():
                self.stream.step()
            self.stream.close()

        threads = [threading.Thread(target=guarded(stream), name=f"sync-{self.stream.collection}")]
        if (current := self.current) is not None:
            pause = max(self._settings.current_every_seconds, MIN_CURRENT_PAUSE_S)

            def keep_current() -> None:
                while not stop.wait(pause):
                    current.catch_up()

            threads.append(threading.Thread(target=guarded(keep_current), name="sync-profiles_current"))
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if failures:
            raise failures[0]
        if current is not None:
            current.catch_up()  # after the stream's last commit


def open_targets(share: Share, lake: Location, app_id: str) -> list[DeltaTarget]:
    """The share's tables (created if missing): its stream's, then the current table if it has one."""
    tables = [share.spec.table] if share.current is None else [share.spec.table, share.current]
    return [DeltaTarget(lake, table, app_id) for table in tables]


def batches(targets: list[DeltaTarget]) -> dict[str, int]:
    """The last batch of each table, as its target saw it when opened or last committed."""
    return {t.table.name: t.batch for t in targets}
