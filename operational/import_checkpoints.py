"""How far each file's import got, kept in MongoDB beside the profiles it writes.

A checkpoint moves past a batch only once the batch's events are durable and its dead letters are
acknowledged, as Kafka offsets are committed only then; a killed import therefore resumes from its last
checkpoint and reads again at most the batch in flight, whose events the writer recognises by id. The
file's checksum says whether it is still the file the checkpoint is about: a file that changed is read
again from its first row, and only rows that are new (new event ids) change anything.

    file_imports  {_id: "<source>\\x1f<uri>", source, uri, checksum, size, mtime_ns,
                   position: {rows, malformed}, done, error, started_at, updated_at}
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pymongo.collection import Collection

from ingest.file_reader import FileRef, Position

COLLECTION = "file_imports"
ALREADY = "imported already"


@dataclass(frozen=True)
class Plan:
    """Where to start reading a file (None: it is imported already), and why, for the user."""

    start: Position | None
    why: str


def plan_import(checkpoint: dict[str, Any] | None, checksum: str, from_start: bool = False) -> Plan:
    """The start for a file of this checksum, given its last checkpoint (pure)."""
    if checkpoint is None:
        return Plan(Position(), "new")
    if checkpoint["checksum"] != checksum:
        return Plan(Position(), "changed since its last import: rows imported before count once")
    if from_start:
        return Plan(Position(), "read again from the start: rows imported before count once")
    if checkpoint["done"]:
        return Plan(None, ALREADY)
    position = Position(**checkpoint["position"])
    return Plan(position, f"resumed after row {position.rows:,}")


def unchanged_since_done(checkpoint: dict[str, Any] | None, ref: FileRef) -> bool:
    """Whether a completed import saw a file of this size and modification time: a drop folder's poll
    need not read its checksum again (pure)."""
    return (
        checkpoint is not None
        and checkpoint["done"]
        and (checkpoint["size"], checkpoint["mtime_ns"]) == (ref.size, ref.mtime_ns)
    )


class ImportCheckpoints:
    def __init__(self, collection: Collection) -> None:
        self._collection = collection

    def get(self, source: str, uri: str) -> dict[str, Any] | None:
        return self._collection.find_one({"_id": _id(source, uri)})

    def begin(self, source: str, ref: FileRef, checksum: str, start: Position) -> None:
        now = datetime.now(UTC)
        state = {
            "source": source,
            "uri": ref.uri,
            "checksum": checksum,
            "size": ref.size,
            "mtime_ns": ref.mtime_ns,
            "position": _position(start),
            "done": False,
            "error": None,
            "started_at": now,
            "updated_at": now,
        }
        self._collection.replace_one({"_id": _id(source, ref.uri)}, state, upsert=True)

    def advance(self, source: str, uri: str, position: Position, *, done: bool = False) -> None:
        update = {"position": _position(position), "done": done, "updated_at": datetime.now(UTC)}
        self._collection.update_one({"_id": _id(source, uri)}, {"$set": update})

    def fail(self, source: str, uri: str, error: str) -> None:
        """The file could not be read on: the position stays where the last durable batch left it."""
        update = {"error": error, "updated_at": datetime.now(UTC)}
        self._collection.update_one({"_id": _id(source, uri)}, {"$set": update})


def _id(source: str, uri: str) -> str:
    return f"{source}\x1f{uri}"


def _position(position: Position) -> dict[str, int]:
    return {"rows": position.rows, "malformed": position.malformed}
