"""Dependencies read from app state, so routes read as typed parameters."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Request

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


def _actor(x_c360_actor: Annotated[str, Header(max_length=100)] = "api") -> str:
    """Who makes an identity change, recorded in its evidence. The one place where write permission
    will be checked once API keys with roles exist."""
    return x_c360_actor


ActorDep = Annotated[str, Depends(_actor)]
