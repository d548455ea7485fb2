"""`c360 setup`: what must exist before the components start (topics, collections, indexes, users)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, cast

import typer
from rich.console import Console

from c360.bootstrap import setup as run_setup
from c360.settings import load_settings
from operational.roles import COMPONENTS, Component, role_name

console = Console()


def setup(
    partitions: Annotated[
        int, typer.Option(min=1, help="Partitions of each new topic: at most this many ingest workers.")
    ] = 6,
    mongo_user: Annotated[
        list[str] | None,
        typer.Option(
            metavar="COMPONENT=PASSWORD_FILE",
            help=f"Create or update the MongoDB user of a component ({', '.join(COMPONENTS)}) with the "
            "password in the file, holding only that component's role. Repeat for each.",
        ),
    ] = None,
) -> None:
    """Create the topics, MongoDB's collections and indexes, and the components' users; idempotent.

    Run it as an administrator (a mongo.uri whose user may create collections, indexes, roles and users,
    and a Kafka user that may create topics) before the components start, and again after changing the
    mapping file. Existing topics keep their partitions. Each component then connects as its own user
    (docs/SECURITY.md):

        c360 setup --partitions 12 --mongo-user ingest=/run/secrets/mongo_ingest_password \\
            --mongo-user api=/run/secrets/mongo_api_password
    """
    passwords = dict(_component_file(given) for given in mongo_user or [])
    report = run_setup(load_settings(), partitions, passwords)
    console.print(f"topics ready ({partitions} partitions for new ones): {', '.join(report.topics)}")
    console.print(f"MongoDB collections and indexes ready in {report.database}")
    for component, user in zip(passwords, report.users, strict=True):
        console.print(f"MongoDB user {user}: role {role_name(component)}", highlight=False)


def _component_file(given: str) -> tuple[Component, Path]:
    component, sep, path = given.partition("=")
    if not sep or component not in COMPONENTS or not path:
        raise typer.BadParameter(f"{given!r}: expected COMPONENT=PASSWORD_FILE ({', '.join(COMPONENTS)})")
    return cast(Component, component), Path(path)
