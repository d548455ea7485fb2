"""Dependencies read from app state, so routes read as typed parameters."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from operational.reads import ProfileReader
from operational.store import Store
from operational.workers import WorkerRegistry


def _store(request: Request) -> Store:
    return request.app.state.store


def _reader(request: Request) -> ProfileReader:
    return ProfileReader(request.app.state.store)


def _workers(request: Request) -> WorkerRegistry:
    return WorkerRegistry(request.app.state.store)


StoreDep = Annotated[Store, Depends(_store)]
ReaderDep = Annotated[ProfileReader, Depends(_reader)]
WorkersDep = Annotated[WorkerRegistry, Depends(_workers)]
