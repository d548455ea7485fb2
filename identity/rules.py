"""Deterministic identity rules, pure: what an identifier may do to the identity graph.

A *merge* key (customer id, account id, loyalty id, email, phone) may join two profiles; an *attach* key
(cookie, device id) only attaches to one, and is evidence for placing anonymous activity until it has
been seen on more than `attach_max_profiles` profiles. Role mailboxes (info@, support@) never merge.
`max_per_profile` caps how many values of a type one profile may hold (one customer id): a merge that
would break a cap is refused, and the weaker contested keys move to the new owner instead.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from c360.settings import IdentitySettings
from ingest.events import Identifier


@dataclass(frozen=True)
class IdentityRules:
    merge_types: tuple[str, ...]
    attach_types: tuple[str, ...]
    max_per_profile: Mapping[str, int]
    attach_max_profiles: int
    role_local_parts: frozenset[str]

    @classmethod
    def from_settings(cls, settings: IdentitySettings | None = None) -> IdentityRules:
        """The configured rules; without settings, the shipped defaults."""
        settings = settings or IdentitySettings()
        return cls(
            merge_types=tuple(settings.merge_types),
            attach_types=tuple(settings.attach_types),
            max_per_profile=dict(settings.max_per_profile),
            attach_max_profiles=settings.attach_max_profiles,
            role_local_parts=frozenset(settings.role_local_parts),
        )

    def merges(self, ident: Identifier) -> bool:
        """May this identifier join two profiles?"""
        return self.merges_key(ident.key)

    def merges_key(self, key: str) -> bool:
        kind, _, value = key.partition(":")
        if kind not in self.merge_types:
            return False
        return not (kind == "email" and self.is_role_address(value))

    def is_role_address(self, email: str) -> bool:
        local = email.split("@", 1)[0].split("+", 1)[0]
        return local in self.role_local_parts

    def rank(self, key: str) -> int:
        """Lower is stronger; attach and unknown types rank after every merge type."""
        kind = key.split(":", 1)[0]
        return self.merge_types.index(kind) if kind in self.merge_types else len(self.merge_types)

    def within_caps(self, keys: Iterable[str]) -> bool:
        """Would one profile holding all of these keys respect every per-type cap?"""
        counts: dict[str, int] = {}
        for key in set(keys):
            kind = key.split(":", 1)[0]
            counts[kind] = counts.get(kind, 0) + 1
        return all(counts.get(kind, 0) <= cap for kind, cap in self.max_per_profile.items())

    def capped(self, key: str) -> bool:
        return key.split(":", 1)[0] in self.max_per_profile
