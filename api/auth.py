"""API keys and roles: who is calling, and whether they may see personal data.

Keys are compared by their SHA-256 digest, so the ring never holds them in the clear after start-up.
An app built without keys is open (development): every caller is admin.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

Role = Literal["reader", "writer", "admin"]
RANK: dict[Role, int] = {"reader": 0, "writer": 1, "admin": 2}


@dataclass(frozen=True)
class Principal:
    name: str
    role: Role
    pii: bool

    def allows(self, role: Role) -> bool:
        return RANK[self.role] >= RANK[role]

    @property
    def sees_pii(self) -> bool:
        return self.pii or self.role == "admin"


DEVELOPMENT = Principal("development", "admin", True)


class KeyRing:
    def __init__(self, keys: Iterable[tuple[str, str, Role, bool]]) -> None:
        """`keys`: (name, secret, role, pii) per caller."""
        self._by_digest = {_digest(secret): Principal(name, role, pii) for name, secret, role, pii in keys}

    @property
    def open(self) -> bool:
        return not self._by_digest

    def identify(self, secret: str | None) -> Principal | None:
        if self.open:
            return DEVELOPMENT
        return None if not secret else self._by_digest.get(_digest(secret))


def _digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()
