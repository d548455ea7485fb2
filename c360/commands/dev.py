"""`c360 dev`: the genuine local servers (MongoDB replica set, Tansu Kafka broker) for development."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from c360.servers import LocalServers, ServerError, ServerStatus, mongo_uri, settings_for_local
from c360.settings import Settings, load_settings
from operational.roles import COMPONENTS

app = typer.Typer(
    help="Start, stop and inspect the local MongoDB 6.0 replica set and Tansu Kafka broker (no Docker).",
    no_args_is_help=True,
)
console = Console()


@app.command()
def up() -> None:
    """Start MongoDB and Kafka (Tansu) under local.home, keeping any already running, and print their URIs.

    Ports come from local.mongo_port and local.kafka_port (env C360_LOCAL__MONGO_PORT,
    C360_LOCAL__KAFKA_PORT). Kafka keeps topics in memory: they are gone after `down`.

    With local.mongo_auth (C360_LOCAL__MONGO_AUTH=true) mongod runs with --auth and a keyFile, with an
    administrator and one least-privilege user per component (roles in mongo.database); it prints each
    one's URI. Passwords are generated into <local.home>/mongo-users.json.
    """
    settings = load_settings()
    servers = LocalServers(settings.local, database=settings.mongo.database)
    _print_table(servers.home, _run(servers.up))
    _print_uris(settings)


@app.command()
def down() -> None:
    """Stop the local servers (SIGTERM, then SIGKILL if needed); MongoDB's data directory is kept."""
    servers = LocalServers(load_settings().local)
    _print_table(servers.home, _run(servers.down))


@app.command()
def status() -> None:
    """Show each local server: running or stopped, pid, port, data directory and log file."""
    servers = LocalServers(load_settings().local)
    _print_table(servers.home, _run(servers.status))


def _run(action: Callable[[], list[ServerStatus]]) -> list[ServerStatus]:
    """Run a server action, turning a ServerError into a plain message and exit code 1."""
    try:
        return action()
    except ServerError as exc:
        console.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False)
        raise typer.Exit(1) from exc


def _print_table(home: Path, statuses: list[ServerStatus]) -> None:
    """One row per server; paths relative to `home` (the title) so the table fits a narrow terminal."""
    table = Table("server", "state", "pid", "port", "data", "log", title=f"local servers in {home}")
    for s in statuses:
        data = str(s.data_dir.relative_to(home)) if s.data_dir else "in memory"
        table.add_row(
            s.name, _state(s), str(s.pid or "-"), str(s.port), data, str(s.log_file.relative_to(home))
        )
    console.print(table)


def _state(status: ServerStatus) -> str:
    """A live process that does not answer is starting up or hung: worth telling apart from stopped."""
    if status.running:
        return "[green]running[/green]"
    return "[yellow]not answering[/yellow]" if status.pid else "stopped"


def _print_uris(settings: Settings) -> None:
    """Print the settings that reach these servers as env vars, warning when the configuration differs."""
    local = settings_for_local(settings)
    for line in (
        f"C360_MONGO__URI={local.mongo.uri}",
        f"C360_KAFKA__BOOTSTRAP_SERVERS={local.kafka.bootstrap_servers}",
    ):
        console.print(line, highlight=False, soft_wrap=True)
    if local != settings:
        console.print("[yellow]Your settings point elsewhere; export the lines above to use them.[/yellow]")
    if settings.local.mongo_auth:
        console.print(
            "Each component as its own user (docs/SECURITY.md), once `c360 setup` has run with the "
            "administrator's URI above:",
            highlight=False,
        )
        for component in COMPONENTS:
            uri = mongo_uri(settings.local, component)
            console.print(f"  {component:<6} C360_MONGO__URI={uri}", highlight=False, soft_wrap=True)
