"""`c360 serve`: the REST API, in one or more uvicorn worker processes."""

from __future__ import annotations

from contextlib import ExitStack
from typing import Annotated

import typer
import uvicorn
from fastapi import FastAPI
from rich.console import Console

from api.auth import NoApiKeys
from c360.bootstrap import api_app, api_keys
from c360.reuseport import serve_workers
from c360.settings import load_settings


def serve(
    host: Annotated[str | None, typer.Option(help="Interface to bind (default: api.host).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default: api.port, 8360).")] = None,
    workers: Annotated[
        int,
        typer.Option(
            min=1,
            help="Worker processes, each with its own GIL and its own listening socket on the port "
            "(SO_REUSEPORT), so the kernel spreads connections evenly.",
        ),
    ] = 1,
) -> None:
    """Serve profiles over REST: /profiles/{id}, /profiles/lookup?type=email&value=..., /ready, /docs.

    With several workers, /metrics shows the latency histograms of whichever worker answers, and a worker
    that exits stops the server (run it under a process manager that restarts it)."""
    settings = load_settings()
    try:
        api_keys(settings)  # here, so that a refusal is one line, not a traceback from every worker
    except NoApiKeys as exc:
        Console(stderr=True).print(f"[red]error:[/red] {exc}", highlight=False)
        raise typer.Exit(1) from None
    api = settings.api
    config = uvicorn.Config(
        f"{__name__}:worker_app",
        factory=True,
        host=host or api.host,
        port=port or api.port,
        log_level="warning",
        access_log=False,  # hidden at "warning" anyway, but uvicorn formats each line's fields before asking
    )
    if workers == 1:
        uvicorn.Server(config).run()
    else:
        raise typer.Exit(serve_workers(config, workers))


def worker_app() -> FastAPI:
    """The app of one worker process; its MongoDB client and Kafka producer live as long as the process."""
    resources = ExitStack()
    app = resources.enter_context(api_app(load_settings()))
    app.state.resources = resources  # held by the app: a collected generator would close the client
    return app
