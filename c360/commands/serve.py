"""`c360 serve`: the REST API, in one or more uvicorn worker processes."""

from __future__ import annotations

from contextlib import ExitStack
from typing import Annotated

import typer
import uvicorn
from fastapi import FastAPI

from c360.bootstrap import api_app
from c360.settings import load_settings


def serve(
    host: Annotated[str | None, typer.Option(help="Interface to bind (default: api.host).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default: api.port, 8360).")] = None,
    workers: Annotated[
        int, typer.Option(min=1, help="Worker processes; each serves requests with its own GIL.")
    ] = 1,
) -> None:
    """Serve profiles over REST: /profiles/{id}, /profiles/lookup?type=email&value=..., /ready, /docs.

    With several workers, /metrics shows the latency histograms of whichever worker answers."""
    api = load_settings().api
    uvicorn.run(
        f"{__name__}:worker_app",
        factory=True,
        host=host or api.host,
        port=port or api.port,
        workers=workers,
        log_level="warning",
        access_log=False,  # hidden at "warning" anyway, but uvicorn formats each line's fields before asking
    )


def worker_app() -> FastAPI:
    """The app of one worker process; its MongoDB client and Kafka producer live as long as the process."""
    resources = ExitStack()
    app = resources.enter_context(api_app(load_settings()))
    app.state.resources = resources  # held by the app: a collected generator would close the client
    return app
