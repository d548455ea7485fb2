"""`c360 erase`: erase a person from c360 everywhere, at their request (the right to erasure)."""

from __future__ import annotations

import getpass
from collections.abc import Callable
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from c360.bootstrap import eraser, identity_rules, open_store
from c360.settings import load_settings
from ingest.events import IdentifierType
from operational.erasure import PersonNotFound
from operational.reads import ProfileReader, identity_key
from operational.store import Store

console = Console()


def erase(
    profile_id: Annotated[
        str | None, typer.Argument(help="The profile id; an id merged away names its survivor's person.")
    ] = None,
    identifier: Annotated[
        str | None,
        typer.Option(help="Find the person by an identifier instead, as TYPE:VALUE (email:ann@example.com)."),
    ] = None,
    reason: Annotated[str, typer.Option(help="Why, kept with the erasure: e.g. the request's number.")] = "",
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask before erasing.")] = False,
) -> None:
    """Erase a person: their profile and every profile merged into it, their identifiers, events, CDC
    rows, identity history, match records and review items. One MongoDB transaction detaches them, then
    their events and rows go in chunks (an erasure stopped halfway is finished by the next one).
    Identifiers only they held are kept as hashes so that their events are dropped from then on (Kafka
    replays, a re-snapshot, a retried webhook). `c360 sync run` deletes their rows from the Delta tables, and
    `c360 sync vacuum` removes the older files that still hold them.

    c360 cannot erase the sources' own copies: tell the source systems, too. Safe while ingest runs.

    Examples:

        c360 erase p0123456789abcdef0123 --reason "DSR-1042"

        c360 erase --identifier email:ann@example.com --reason "DSR-1043" --yes
    """
    if (profile_id is None) == (identifier is None):
        raise typer.BadParameter("name the person by a profile id or by --identifier, not both")
    if not reason.strip():
        raise typer.BadParameter("say why with --reason; it is kept with the erasure", param_hint="--reason")
    settings = load_settings()
    with open_store(settings) as store:
        target = profile_id or _holder(store, identifier or "", identity_rules(settings).merges_key)
        if not yes and not typer.confirm(f"Erase the person of profile {target}? This cannot be undone"):
            raise typer.Abort()
        try:
            erasure = eraser(settings, store).erase(target, getpass.getuser(), reason.strip())
        except PersonNotFound as exc:
            console.print(f"[red]{exc}[/red]")
            raise typer.Exit(1) from None
    table = Table("collection", "documents deleted")
    for name, count in erasure.deleted.items():
        table.add_row(name, f"{count:,}")
    console.print(table)
    console.print(
        f"erased {erasure.profile_id} ({len(erasure.profiles)} profiles) as {erasure.erasure_id}: "
        f"{erasure.keys_suppressed} identifiers suppressed; "
        f"{erasure.keys_released} shared identifiers left to the others who used them"
    )


def _holder(store: Store, identifier: str, merges_key: Callable[[str], bool]) -> str:
    type_, _, value = identifier.partition(":")
    try:
        kind = IdentifierType(type_)
    except ValueError:
        kinds = ", ".join(t.value for t in IdentifierType)
        message = f"unknown identifier type {type_!r}; one of {kinds}"
        raise typer.BadParameter(message, param_hint="--identifier") from None
    try:
        key = identity_key(kind, value)  # normalized as ingest does
    except ValidationError as exc:
        raise typer.BadParameter(exc.errors()[0]["msg"], param_hint="--identifier") from None
    if not merges_key(key):
        message = f"{identifier} can be shared by several people; name the person by an identifier of theirs"
        raise typer.BadParameter(message, param_hint="--identifier")
    doc = ProfileReader(store).lookup(kind, value)
    if doc is None:
        console.print(f"[red]no profile holds {identifier}[/red]")
        raise typer.Exit(1)
    return doc["_id"]
