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
    # Blocking rules for estimating m (one EM session each); empty means the blocking rules. Avoid rules
    # that select people who share a trait but are different people (an address: households).
    training: tuple[tuple[str, ...], ...] = ()
    # Fields that describe the person rather than where they live: a candidate agreeing on none of them
    # (same surname and address, other first name and birth date: a household) is never a match,
    # whatever the address adds up to. Empty means no such guard.
    identity_fields: tuple[str, ...] = ()
    # (field, level): disagreement at that level or worse rules a match out, whatever the rest adds up
    # to. A parent and a child of one name at one address differ only in their birth dates; two
    # people of one household with birth dates a digit apart still differ in their first names.
    vetoes: tuple[tuple[str, int], ...] = ()


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
    training=(("date_of_birth",), ("first_name", "last_name")),
    identity_fields=("first_name", "date_of_birth"),
    vetoes=(("date_of_birth", 2), ("first_name", 3)),
)
