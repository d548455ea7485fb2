"""API keys and roles: who is calling, and whether they may see personal data.

Keys are compared by their SHA-256 digest, so the ring never holds them in the clear after start-up, and
configuration may give only digests. A ring without keys is open, every caller admin: `key_ring` builds
one only in development mode and otherwise refuses to, so a deployment cannot start open by omission.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
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


class NoApiKeys(RuntimeError):
    """The API was asked to start without keys outside development mode."""


class KeyRing:
    def __init__(self, keys: Iterable[tuple[str, str, Role, bool]] = ()) -> None:
        """`keys`: (name, secret, role, pii) per caller."""
        self._by_digest = {digest(secret): Principal(name, role, pii) for name, secret, role, pii in keys}

    @classmethod
    def of_digests(cls, keys: Iterable[tuple[str, bytes, Role, bool]]) -> KeyRing:
        """`keys`: (name, SHA-256 digest of the secret, role, pii) per caller."""
        ring = cls()
        ring._by_digest = {sha: Principal(name, role, pii) for name, sha, role, pii in keys}
        return ring

    @property
    def open(self) -> bool:
        return not self._by_digest

    def identify(self, secret: str | None) -> Principal | None:
        if self.open:
            return DEVELOPMENT
        return None if not secret else self._by_digest.get(digest(secret))


def key_ring(keys: Sequence[tuple[str, bytes, Role, bool]], development: bool) -> KeyRing:
    """The deployment's callers by digest; an open ring (no keys) only in development mode."""
    if not keys and not development:
        raise NoApiKeys(
            "api.keys is empty: the API does not start open. Give keys (C360_API__KEYS, with key or "
            "key_sha256 each; docs/CONFIGURATION.md), or set development=true (C360_DEVELOPMENT=true) "
            "on a laptop, where every caller is admin"
        )
    return KeyRing.of_digests(keys)


def digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()
