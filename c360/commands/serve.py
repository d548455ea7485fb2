"""`c360 serve`: the REST API."""

from __future__ import annotations

from typing import Annotated

import typer
import uvicorn

from c360.bootstrap import api_app
from c360.settings import load_settings


def serve(
    host: Annotated[str | None, typer.Option(help="Interface to bind (default: api.host).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default: api.port, 8360).")] = None,
) -> None:
    """Serve profiles over REST: /profiles/{id}, /profiles/lookup?type=email&value=..., /ready, /docs."""
    settings = load_settings()
    with api_app(settings) as app:
        uvicorn.run(app, host=host or settings.api.host, port=port or settings.api.port, log_level="warning")
