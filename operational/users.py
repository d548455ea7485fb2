"""Creates (or brings up to date) the component roles of operational/roles.py and their users.

Run by an administrator: `c360 setup --mongo-user COMPONENT=PASSWORD_FILE`, and `c360 dev up` with
local.mongo_auth. Idempotent: an existing role gets the current privileges, an existing user the given
password and its one role.
"""

from __future__ import annotations

from pymongo import MongoClient
from pymongo.errors import OperationFailure

from operational.roles import COMPONENTS, Component, privileges, role_name, user_name

ROLE_EXISTS = 51002
USER_EXISTS = 51003


def ensure_roles(client: MongoClient, database: str) -> None:
    """Every component's role, defined in `database` (its privileges reach only that database)."""
    db = client[database]
    for component in COMPONENTS:
        spec = {"privileges": privileges(component, database), "roles": []}
        try:
            db.command("createRole", role_name(component), **spec)
        except OperationFailure as exc:
            if exc.code != ROLE_EXISTS:
                raise
            db.command("updateRole", role_name(component), **spec)


def ensure_user(client: MongoClient, database: str, component: Component, password: str) -> str:
    """The component's user, in `admin` (the URI's default authSource), holding only its role."""
    name = user_name(component)
    spec = {"pwd": password, "roles": [{"role": role_name(component), "db": database}]}
    try:
        client.admin.command("createUser", name, **spec)
    except OperationFailure as exc:
        if exc.code != USER_EXISTS:
            raise
        client.admin.command("updateUser", name, **spec)
    return name
