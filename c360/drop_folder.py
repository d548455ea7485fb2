"""A watched drop folder (`c360 import watch`): each file that lands is imported once it is complete.

A file counts as complete once it has kept its size and modification time for `settle_s` seconds; files
under the names writers use while writing (`x.csv.part`, `.x.csv`, see ingest/file_reader.py) are never
picked, so a writer that renames a finished file into place is picked up on the next poll after the
settle time. A file imported before with the same size and time is not read again; a file that could
not be read is tried again only once it changes.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import pyarrow.fs as pafs

from c360.file_import import FileImport, FileOutcome
from ingest.file_reader import FileReadError, FileRef, find_files
from operational.import_checkpoints import ALREADY

log = logging.getLogger(__name__)
Signature = tuple[int, int | None]


@dataclass
class Settling:
    """What each file looked like when first seen so (pure bookkeeping between polls)."""

    since: dict[str, tuple[Signature, float]] = field(default_factory=dict)

    def ready(self, files: list[FileRef], now: float, settle_s: float) -> list[FileRef]:
        """The files unchanged for `settle_s`; forgets files that are gone."""
        seen = {}
        out = []
        for ref in files:
            signature = (ref.size, ref.mtime_ns)
            previous = self.since.get(ref.uri)
            first = previous[1] if previous is not None and previous[0] == signature else now
            seen[ref.uri] = (signature, first)
            if now - first >= settle_s:
                out.append(ref)
        self.since = seen
        return out


def watch(
    importer: FileImport,
    location: str,
    filesystem: pafs.FileSystem | None,
    stop: threading.Event,
    *,
    interval_s: float,
    settle_s: float,
    on_file: Callable[[FileOutcome], None],
) -> None:
    """Poll `location` every `interval_s` until `stop` is set, importing the files that are ready."""
    settling = Settling()
    failed: dict[str, Signature] = {}
    while not stop.is_set():
        try:
            files = find_files(location, filesystem)
        except FileReadError as exc:
            log.warning("cannot list the drop folder: %s", exc)
            files = []
        for ref in settling.ready(files, time.monotonic(), settle_s):
            if stop.is_set():
                break
            if failed.get(ref.uri) == (ref.size, ref.mtime_ns):
                continue
            outcome = importer.import_file(ref, stop, trust_unchanged=True)
            if outcome.error is not None:
                failed[ref.uri] = (ref.size, ref.mtime_ns)
            if outcome.why != ALREADY:
                on_file(outcome)
        stop.wait(interval_s)
