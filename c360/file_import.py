"""The file import loop: batch files through the same mappings, events and writer as Kafka records.

Per file, its checksum and checkpoint decide where to start (operational/import_checkpoints.py). Then per
batch of rows, in the order the Kafka loop keeps per poll: translate every row (bad ones become dead
letters), apply the events until MongoDB holds them, wait until every dead letter is acknowledged, and
only then move the file's checkpoint past the batch. The next batch is read and translated while one is
being written. A kill anywhere resumes from the last checkpoint: the rows read again are recognised by
their event ids and count once, and no row after the checkpoint was skipped.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Protocol

from c360.durable_apply import EventWriter, WriteResult, apply_durably
from ingest.events import CanonicalEvent
from ingest.file_reader import FileReadError, FileRef, Position, checksum, file_format, read_rows
from ingest.file_rows import FileRow, RowDeadLetter, translate_row
from ingest.mappings import FileSource
from operational.import_checkpoints import ALREADY, ImportCheckpoints, plan_import, unchanged_since_done

EXAMPLES = 5  # dead letters kept for the summary; all of them go to the dead-letter topic


class RowDeadLetters(Protocol):
    """The dead-letter topic (c360/dead_letters.py): `flush` raises unless every letter was acknowledged."""

    def send_row(self, letter: RowDeadLetter, source: str) -> None: ...

    def flush(self) -> int: ...


@dataclass
class FileOutcome:
    """What importing one file did; `why` says how it started (new, resumed, changed, imported already)."""

    uri: str
    why: str
    rows: int = 0
    applied: int = 0
    duplicates: int = 0
    suppressed: int = 0
    dead_letters: Counter[str] = field(default_factory=Counter)
    examples: list[RowDeadLetter] = field(default_factory=list)
    error: str | None = None
    done: bool = False


@dataclass
class _InFlight:
    """A batch handed to the writer thread; `rows` counts every row read, refused ones included."""

    write: Future[WriteResult[FileRow]]
    letters: list[RowDeadLetter]
    position: Position
    rows: int


class FileImport:
    def __init__(
        self,
        source: FileSource,
        writer: EventWriter,
        dead_letters: RowDeadLetters,
        checkpoints: ImportCheckpoints,
        *,
        batch_rows: int,
        max_bytes: int,
        on_batch: Callable[[FileOutcome], None] | None = None,
    ) -> None:
        self.source = source
        self._writer = writer
        self._dead_letters = dead_letters
        self._checkpoints = checkpoints
        self._batch_rows = batch_rows
        self._max_bytes = max_bytes
        self._on_batch = on_batch
        # One writer thread: batch N is written while batch N+1 is read and translated, in order.
        self._writes = ThreadPoolExecutor(max_workers=1, thread_name_prefix="c360-import-writer")

    def close(self) -> None:
        self._writes.shutdown(wait=True)

    def import_file(
        self, ref: FileRef, stop: threading.Event, *, from_start: bool = False, trust_unchanged: bool = False
    ) -> FileOutcome:
        """One file from where its checkpoint says; with `trust_unchanged`, a completed file of the same
        size and modification time is not read again (a drop folder's poll)."""
        name = self.source.name
        checkpoint = self._checkpoints.get(name, ref.uri)
        if trust_unchanged and unchanged_since_done(checkpoint, ref):
            return FileOutcome(ref.uri, ALREADY, done=True)
        try:
            fmt = file_format(ref, self.source.format)
            digest = checksum(ref)
        except FileReadError as exc:
            return FileOutcome(ref.uri, "unreadable", error=str(exc))
        plan = plan_import(checkpoint, digest, from_start)
        outcome = FileOutcome(ref.uri, plan.why, done=plan.start is None)
        if plan.start is None:
            return outcome
        self._checkpoints.begin(name, ref, digest, plan.start)
        position, in_flight = plan.start, None
        try:
            for batch in read_rows(ref, fmt, self.source.csv, plan.start, self._batch_rows, self._max_bytes):
                good, letters = self._translate(batch.rows)
                if in_flight is not None:
                    self._settle(in_flight, ref, outcome)
                    in_flight = None
                write = self._writes.submit(apply_durably, self._writer, good, stop.is_set)
                rows = len(batch.rows) + len(batch.refused)
                in_flight = _InFlight(write, batch.refused + letters, batch.position, rows)
                position = batch.position
                if stop.is_set():
                    break
        except FileReadError as exc:
            outcome.error = str(exc)
        finally:
            if in_flight is not None:  # the rows read before a stop or an unreadable part stay valid
                self._settle(in_flight, ref, outcome)
        if outcome.error is not None:
            self._checkpoints.fail(name, ref.uri, outcome.error)
        elif not stop.is_set():
            self._checkpoints.advance(name, ref.uri, position, done=True)
            outcome.done = True
        return outcome

    def _translate(
        self, rows: list[FileRow]
    ) -> tuple[list[tuple[FileRow, CanonicalEvent]], list[RowDeadLetter]]:
        good: list[tuple[FileRow, CanonicalEvent]] = []
        letters: list[RowDeadLetter] = []
        encoding = self.source.csv.encoding
        for row in rows:
            result = translate_row(self.source, row, encoding, self._max_bytes)
            if isinstance(result, RowDeadLetter):
                letters.append(result)
            else:
                good.append((row, result))
        return good, letters

    def _settle(self, batch: _InFlight, ref: FileRef, outcome: FileOutcome) -> None:
        """Wait for the batch's write, send its dead letters and wait for them, then checkpoint past it."""
        written = batch.write.result()
        letters = batch.letters + [
            RowDeadLetter(row, reason, "$", why) for row, reason, why in written.refused
        ]
        for letter in letters:
            self._dead_letters.send_row(letter, self.source.name)
        self._dead_letters.flush()
        self._checkpoints.advance(self.source.name, ref.uri, batch.position)
        outcome.rows += batch.rows
        outcome.applied += written.applied
        outcome.duplicates += written.duplicates
        outcome.suppressed += written.suppressed
        outcome.dead_letters.update(letter.reason for letter in letters)
        outcome.examples += letters[: EXAMPLES - len(outcome.examples)]
        if self._on_batch is not None:
            self._on_batch(outcome)
