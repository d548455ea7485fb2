"""A change stream read ahead by its own thread: MongoDB's getMore (server time and network, during which
the GIL is free) overlaps the conversion and Delta commit of the batch before. Bounded, so a stalled
writer holds back the reader rather than memory; an error the reader hits is raised by the next `take`.
Read-ahead changes are never committed by the feed, so a crash loses only what a restart reads again.
"""

from __future__ import annotations

import queue
import threading
from typing import Any

from pymongo.change_stream import CollectionChangeStream

Change = dict[str, Any]
_PUT_WAIT_S = 0.05


class ChangeFeed:
    def __init__(self, stream: CollectionChangeStream, capacity: int, name: str) -> None:
        self._stream = stream
        self._queue: queue.Queue[Change | BaseException] = queue.Queue(capacity)
        self._stop = threading.Event()
        self._reader = threading.Thread(target=self._read, name=f"feed-{name}", daemon=True)
        self._reader.start()

    def take(self, wait_s: float) -> Change | None:
        """The next change, or None when none arrived within `wait_s`."""
        try:
            item = self._queue.get(timeout=wait_s)
        except queue.Empty:
            return None
        if isinstance(item, BaseException):
            raise item
        return item

    def pending(self) -> bool:
        """Whether changes read ahead are waiting to be taken."""
        return not self._queue.empty()

    def close(self) -> None:
        self._stop.set()
        self._reader.join()
        self._stream.close()

    def _read(self) -> None:
        try:
            while self._stream.alive and not self._stop.is_set():
                change = self._stream.try_next()  # waits up to the stream's max_await_time_ms
                if change is not None:
                    self._put(change)
        except BaseException as exc:  # handed to the syncing thread, which decides
            self._put(exc)

    def _put(self, item: Change | BaseException) -> None:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=_PUT_WAIT_S)
                return
            except queue.Full:
                continue
