"""Blocking keys, pure: the index entries under which a record is stored and its candidates are found.

One key per blocking rule whose fields are all present, so a typo in one field still leaves the record
reachable through the rules that do not use it.
"""

from __future__ import annotations

from identity.matching.schema import MatchSchema, Record


def blocking_keys(record: Record, schema: MatchSchema) -> list[str]:
    keys = []
    for rule in schema.blocking:
        values = [record.get(name) for name in rule]
        if all(values):
            keys.append("|".join(rule) + "=" + "\x1f".join(v for v in values if v))
    return keys
