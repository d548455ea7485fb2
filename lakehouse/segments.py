"""Segments: named sets of live profiles, defined in YAML as a SQL predicate or a SQL query, compiled to
SQL by pure functions (tested without a database) and run lazily on a lakehouse connection.

    version: 1
    segments:
      - name: big_spenders                 # [a-z][a-z0-9_]*
        description: Spent over 500 in store
        marketing: true                    # members without marketing consent are suppressed
        where: stat_amount(stats, 'order') > 500          # over the `profiles` view
      - name: churning
        marketing: true
        rule:                                # real time too: see activation/rules.py
          all: ["count(transaction, 30d) == 0", "lifetime_count(transaction) >= 1"]
      - name: lapsed
        query: |                           # any query returning a profile_id column
          SELECT profile_id FROM events GROUP BY 1 HAVING max(occurred_at) < as_of() - INTERVAL 30 DAY

A segment gives exactly one of `where`, `query` (both lake-only) or `rule`, which c360 evaluates in
real time on each profile change (`c360 activate run`) and compiles to SQL for the lake, so both give
the same members. Predicates may use the lakehouse's views and macros: `stat_count(stats, type)`,
`stat_amount(stats, type)`, `has_identifier(identifiers, type)` and `as_of()` (the evaluation time; use
it instead of now() so that an export of a past date is reproducible).

Marketing consent (see docs/LAKEHOUSE.md): the latest event of a profile, by occurred_at then event id,
whose attributes carry a JSON boolean `marketing_consent` decides. No such event means no consent.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import duckdb
import yaml
from pydantic import BaseModel, ConfigDict, StringConstraints, model_validator

from activation.rules import Rule
from activation.rules_sql import rule_sql

SegmentName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,63}$")]

CONSENT_SQL = """
SELECT profile_id,
       arg_max(json_extract(attributes, '$.marketing_consent')::BOOLEAN, (occurred_at, event_id)) AS consent
FROM events
WHERE json_type(attributes, '$.marketing_consent') = 'BOOLEAN'
GROUP BY profile_id
"""


class Segment(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: SegmentName
    description: str = ""
    marketing: bool = False
    where: str | None = None
    query: str | None = None
    rule: Rule | None = None

    @model_validator(mode="after")
    def _one_definition(self) -> Segment:
        if sum(d is not None for d in (self.where, self.query, self.rule)) != 1:
            raise ValueError(f"segment {self.name}: give exactly one of `where`, `query` or `rule`")
        return self

    @property
    def realtime(self) -> bool:
        """Evaluated on every profile change too; `where` and `query` segments are lake-only."""
        return self.rule is not None


class SegmentFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: Literal[1] = 1
    segments: list[Segment]

    @model_validator(mode="after")
    def _unique(self) -> SegmentFile:
        names = [s.name for s in self.segments]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"segment names must be unique: {', '.join(duplicates)}")
        return self


def load_segment_file(path: Path) -> SegmentFile:
    with path.open() as fh:
        return SegmentFile.model_validate(yaml.safe_load(fh))


def members_sql(segment: Segment) -> str:
    """Live profile ids in the segment, each once, before any consent rule."""
    if segment.rule is not None:
        return f"SELECT profile_id FROM profiles WHERE {rule_sql(segment.rule)}"
    if segment.where is not None:
        return f"SELECT profile_id FROM profiles WHERE ({segment.where})"
    return (
        f"SELECT DISTINCT q.profile_id FROM ({segment.query}) q "
        "WHERE q.profile_id IN (SELECT profile_id FROM profiles)"
    )


def audience_sql(segment: Segment) -> str:
    """Who may receive it: marketing segments keep only members whose latest consent is true."""
    members = members_sql(segment)
    if not segment.marketing:
        return members
    return (
        f"SELECT m.profile_id FROM ({members}) m "
        f"JOIN ({CONSENT_SQL}) c ON c.profile_id = m.profile_id WHERE c.consent"
    )


def memberships_sql(segments: list[Segment]) -> str:
    """profile_id -> sorted list of segment names, for every live profile in at least one segment."""
    parts = [f"SELECT profile_id, '{s.name}' AS segment FROM ({members_sql(s)})" for s in segments]
    union = " UNION ALL ".join(parts)
    return f"SELECT profile_id, list_sort(list(segment)) AS segments FROM ({union}) GROUP BY profile_id"


def memberships(con: duckdb.DuckDBPyConnection, segments: list[Segment]) -> dict[str, list[str]]:
    """What `memberships_sql` says, evaluated now: the names of each live profile's segments."""
    return {pid: list(names) for pid, names in con.sql(memberships_sql(segments)).fetchall()}
