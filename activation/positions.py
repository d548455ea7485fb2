"""Where each activation stream resumes: its change stream's resume token, stored in MongoDB after the
records up to it are acknowledged by Kafka (the sync keeps its token in the Delta commit for the same
reason). A crash between the two sends those records again, with the same idempotency keys.

A first start stores the cluster time it streams from before doing anything else, so a process killed
before its first change resumes from there too, and whether its evaluation of every existing profile
(the backfill) finished.

    activation_positions: {_id: <collection watched>, token: <resume token> | start: <cluster time>,
                           backfilled: bool, at: <time saved>}
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from bson.timestamp import Timestamp

from operational.store import Store

POSITIONS = "activation_positions"


class Positions:
    def __init__(self, store: Store) -> None:
        self._coll = store.db[POSITIONS]

    def load(self, stream: str) -> dict[str, Any] | None:
        return self._coll.find_one({"_id": stream})

    def start(self, stream: str, at: Timestamp) -> None:
        """The first start's position, unless another process stored one meanwhile."""
        self._coll.update_one(
            {"_id": stream},
            {"$setOnInsert": {"start": at, "backfilled": False, "at": datetime.now(UTC)}},
            upsert=True,
        )

    def save(self, stream: str, token: Any) -> None:
        self._coll.update_one(
            {"_id": stream}, {"$set": {"token": token, "at": datetime.now(UTC)}}, upsert=True
        )

    def backfilled(self, stream: str) -> None:
        self._coll.update_one({"_id": stream}, {"$set": {"backfilled": True}})


def watch_from(position: dict[str, Any]) -> dict[str, Any]:
    """The keyword arguments of `watch` resuming at a stored position."""
    if position.get("token") is not None:
        return {"resume_after": position["token"]}
    return {"start_at_operation_time": position["start"]}
