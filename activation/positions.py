"""Where each activation stream resumes: its change stream's resume token, stored in MongoDB after the
records up to it are acknowledged by Kafka (the sync keeps its token in the Delta commit for the same
reason). A crash between the two sends those records again, with the same idempotency keys.

    activation_positions: {_id: <collection watched>, token: <resume token>, at: <time saved>}
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from operational.store import Store

POSITIONS = "activation_positions"


class Positions:
    def __init__(self, store: Store) -> None:
        self._coll = store.db[POSITIONS]

    def load(self, stream: str) -> Any:
        doc = self._coll.find_one({"_id": stream})
        return None if doc is None else doc["token"]

    def save(self, stream: str, token: Any) -> None:
        self._coll.update_one(
            {"_id": stream}, {"$set": {"token": token, "at": datetime.now(UTC)}}, upsert=True
        )
