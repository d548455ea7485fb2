"""`c360 serve-sql`: the customer 360 views over the PostgreSQL protocol, for psql, JDBC and BI tools."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Annotated

import typer
from rich.console import Console

from api.auth import NoApiKeys
from c360.bootstrap import api_keys, lake_location
from c360.settings import load_settings
from profiles.offers import load_offer_rules
from sql.engine import Engine
from sql.server import Endpoint, Insecure, check_exposure, refreshing, run, tls_context

console = Console(stderr=True)


def serve_sql(
    host: Annotated[str | None, typer.Option(help="Interface to bind (default: sql.host).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default: sql.port, 5433).")] = None,
) -> None:
    """Serve the customer 360 views (customer_360, next_best_offer_signals, purchase_stats,
    popular_items, recent_activity, recent_errors) to any PostgreSQL client, read-only.

    Log in with an API key: user = the key's name in api.keys, password = the key. Keys without the pii
    grant see names, emails and phones masked. The views follow the lake's profile_changes within a
    second of each commit (docs/SQL.md).

        psql "host=127.0.0.1 port=5433 user=analyst dbname=c360" -c "SELECT * FROM customer_360 LIMIT 5"
    """
    settings = load_settings()
    config = settings.sql
    tls = (
        None
        if config.tls_cert_file is None
        else tls_context(str(config.tls_cert_file), str(config.tls_key_file))
    )
    bind = host or config.host
    try:
        keys = api_keys(settings)
        check_exposure(bind, tls, settings.development)
    except (NoApiKeys, Insecure) as exc:
        console.print(f"[red]error:[/red] {exc}", highlight=False)
        raise typer.Exit(1) from None
    engine = Engine(lake_location(settings), load_offer_rules(settings.api.offers_file))
    with console.status("reading the lake's profile_changes"):
        engine.refresh()
    endpoint = Endpoint(engine, keys, tls, config.max_connections, config.statement_timeout_seconds)
    where = f"{bind}:{port or config.port}"
    protocol = "PostgreSQL protocol, TLS" if tls else "PostgreSQL protocol"
    console.print(f"SQL endpoint on {where} ({protocol}), lake version {engine.version}")
    if keys.open:
        console.print("development mode without api.keys: no password asked, every caller sees personal data")
    with refreshing(engine, config.refresh_seconds), contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run(endpoint, bind, port or config.port))
