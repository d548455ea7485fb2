"""What a matchable record looks like: its fields, how each is compared, and how records are blocked.

A record is a mapping of field name to a normalized string (or None when the source did not say).
Each field is compared into a few agreement levels, strongest first; blocking rules name the fields
whose values must all agree for two records to be compared at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Kind = Literal["name", "text", "id", "date", "exact"]
Record = dict[str, str | None]


@dataclass(frozen=True)
class FieldSpec:
    name: str
    kind: Kind
    term_frequency: bool = False  # a common value agreeing (Smith) is weaker evidence than a rare one


@dataclass(frozen=True)
class MatchSchema:
    fields: tuple[FieldSpec, ...]
    blocking: tuple[tuple[str, ...], ...]


# The operational default: person records from CRM and point-of-sale systems (c360/world.py emits them).
PERSON_SCHEMA = MatchSchema(
    fields=(
        FieldSpec("first_name", "name", term_frequency=True),
        FieldSpec("last_name", "name", term_frequency=True),
        FieldSpec("date_of_birth", "date"),
        FieldSpec("street", "text"),
        FieldSpec("city", "text", term_frequency=True),
        FieldSpec("postcode", "id", term_frequency=True),
    ),
    blocking=(
        ("last_name", "date_of_birth"),
        ("first_name", "date_of_birth"),
        ("first_name", "last_name", "postcode"),
        ("street", "postcode"),
    ),
)
