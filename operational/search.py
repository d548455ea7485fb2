"""Profile search by name, email, phone or id prefix: index range scans only, never a user regex.

A prefix `p` becomes `{$gte: p, $lt: p + U+FFFF}` on an indexed string (identities' `_id`, the profiles'
`search_names`), so the caller's text is only ever compared, never interpreted.
"""

from __future__ import annotations

import re
from typing import Any

from operational.store import Store
from profiles.activity import search_text

_PHONE = re.compile(r"^[+0-9][0-9 ()-]*$")
_ID_TYPES = ("customer_id", "account_id", "loyalty_id", "cookie", "device_id")


def prefix_range(prefix: str) -> dict[str, str]:
    return {"$gte": prefix, "$lt": prefix + "\uffff"}


def identity_prefixes(text: str, default_country_code: str = "+44") -> list[str]:
    """The identity-key prefixes a search text could mean: email, phone (national 0 -> country code), ids."""
    text = text.strip()
    if "@" in text:
        return [f"email:{text.lower()}"]
    if _PHONE.match(text) and sum(c.isdigit() for c in text) >= 3:
        digits = "".join(c for c in text if c.isdigit())
        if text.startswith("+"):
            number = "+" + digits
        elif digits.startswith("00"):
            number = "+" + digits[2:]
        else:
            number = default_country_code + digits.removeprefix("0")
        return [f"phone:{number}"]
    return [f"{t}:{text}" for t in _ID_TYPES] + [f"email:{text.lower()}"]


class ProfileSearch:
    def __init__(self, store: Store) -> None:
        self._store = store

    def search(self, text: str, limit: int) -> list[dict[str, Any]]:
        """Live profiles matching by identifier prefix, then by name prefix; at most `limit`."""
        ids: list[str] = []
        for prefix in identity_prefixes(text):
            for edge in self._store.identities.find({"_id": prefix_range(prefix)}, {"profile_id": 1}).limit(
                limit
            ):
                if edge["profile_id"] not in ids:
                    ids.append(edge["profile_id"])
        name = search_text(text)
        if name and len(ids) < limit:
            # $elemMatch: on an array, a bare range may match one element >= and another < the bounds.
            query = {"search_names": {"$elemMatch": prefix_range(name)}, "merged_into": {"$exists": False}}
            for doc in self._store.profiles.find(query, {"_id": 1}).limit(limit):
                if doc["_id"] not in ids:
                    ids.append(doc["_id"])
        projection = {"identifiers": 1, "traits": 1, "merged_into": 1}
        found = {d["_id"]: d for d in self._store.profiles.find({"_id": {"$in": ids[:limit]}}, projection)}
        return [found[i] for i in ids[:limit] if i in found and "merged_into" not in found[i]]
