"""Heartbeats of running ingest workers, kept in MongoDB so that any API process can judge readiness."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from operational.store import Store


class WorkerRegistry:
    def __init__(self, store: Store) -> None:
        self._workers = store.ingest_workers

    def beat(self, worker_id: str, status: dict[str, Any]) -> None:
        doc = {**status, "last_beat": datetime.now(UTC)}
        self._workers.update_one({"_id": worker_id}, {"$set": doc}, upsert=True)

    def leave(self, worker_id: str) -> None:
        self._workers.delete_one({"_id": worker_id})

    def alive(self, max_age: timedelta) -> list[dict[str, Any]]:
        since = datetime.now(UTC) - max_age
        return list(self._workers.find({"last_beat": {"$gte": since}}))
