"""Seeded identity world, pure: canonical events with the hard cases of identity resolution, and the
ground truth of who is who.

Every person has a CRM record (customer id, email, phone, name, address, date of birth), web logins
(email and a device) with anonymous page views on their own device, and point-of-sale records that
carry only a store loyalty id and a typed-in name and address, often with typos. The hard cases:
households share a surname, an address and one tablet they all log in on; small-business staff give the
shop's role mailbox (info@...) as their email; some phone numbers are reassigned to a new customer after
their first owner gave them up. None of these may merge two people; the typo'd records should merge.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from random import Random
from typing import Any

from c360.world import FIRST_NAMES, LAST_NAMES
from identity.matching.schema import Record
from ingest.events import CanonicalEvent, build_event

STREETS = (
    "high street", "station road", "church lane", "mill road", "park avenue", "victoria road", "green lane",
    "manor road", "kings road", "queens road", "the crescent", "york street", "albert road", "west street",
)  # fmt: skip
CITIES = ("leeds", "york", "bristol", "bath", "derby", "exeter", "norwich", "oxford", "reading", "dundee")
HARD_KINDS = ("household_shared_device", "role_email", "reassigned_phone")
START = datetime(2026, 1, 1, tzinfo=UTC)


@dataclass
class IdentityWorld:
    events: list[CanonicalEvent]
    owner: dict[str, int]  # event id -> person
    records: dict[str, Record]  # event id -> person fields, for events that carry them
    hard_pairs: dict[str, set[tuple[int, int]]] = field(default_factory=dict)  # kind -> people never merged
    typo_records: int = 0


def person_record(event: CanonicalEvent) -> Record | None:
    """The matchable fields an event carries (attributes.person), if any."""
    person = event.attributes.get("person")
    return None if person is None else {k: person.get(k) for k in person}


def generate_identity_world(people: int, seed: int = 7) -> IdentityWorld:
    return _Generator(people, Random(seed)).run()


def person_records(people: int, seed: int = 7) -> Iterator[tuple[int, Record, Record]]:
    """Per person, the clean CRM record and one point-of-sale record of the same person, typo'd as the
    world types them: matching benchmarks at a scale where building events would dominate."""
    generator = _Generator(people, Random(seed))
    for person in generator._persons():
        yield person["index"], person["fields"], generator._typos(person["fields"])


class _Generator:
    def __init__(self, people: int, rng: Random) -> None:
        self.people = people
        self.rng = rng
        self.world = IdentityWorld([], {}, {}, {kind: set() for kind in HARD_KINDS})
        self.serial = 0
        self.shops: dict[int, list[int]] = {}  # shop -> staff using its role mailbox

    def run(self) -> IdentityWorld:
        persons = list(self._persons())
        for person in persons:
            self._emit_person(person)
        self.world.events.sort(key=lambda e: (e.occurred_at, e.event_id))
        return self.world

    def _persons(self) -> Iterator[dict[str, Any]]:
        rng = self.rng
        index = 0
        while index < self.people:
            size = rng.choice((1, 1, 1, 1, 1, 2, 2, 3, 4, 5))
            last = rng.choice(LAST_NAMES).lower().replace("'", "")
            home = {
                "street": f"{rng.randint(1, 250)} {rng.choice(STREETS)}",
                "city": rng.choice(CITIES),
                "postcode": f"{rng.choice('BDLMNS')}{rng.randint(1, 29)} {rng.randint(1, 9)}AB",
            }
            tablet = f"tablet-{index}" if size > 1 else None
            members = list(range(index, min(index + size, self.people)))
            for member in members:
                yield self._person(member, last, home, tablet)
            for a in members:
                for b in members:
                    if a < b:
                        self.world.hard_pairs["household_shared_device"].add((a, b))
            index += size

    def _person(self, index: int, last: str, home: dict[str, str], tablet: str | None) -> dict[str, Any]:
        rng = self.rng
        first = rng.choice(FIRST_NAMES).lower()
        dob = START - timedelta(days=rng.randint(18 * 365, 80 * 365))
        return {
            "index": index,
            "fields": {"first_name": first, "last_name": last, "date_of_birth": dob.strftime("%Y%m%d")}
            | home,
            "customer_id": f"C{index:07d}",
            "email": f"{first}.{last}.{index}@mail.example",
            "phone": f"+4479{index:08d}",
            "loyalty_id": f"L{index:07d}",
            "device": f"phone-{index}",
            "tablet": tablet,
        }

    def _emit_person(self, person: dict[str, Any]) -> None:
        rng = self.rng
        index = person["index"]
        at = START + timedelta(minutes=rng.randint(0, 60 * 24 * 60))
        email = person["email"]
        if rng.random() < 0.06 and index > 0:  # staff of a small shop use its role mailbox
            staff = self.shops.setdefault(index // 50, [])
            email = f"info@shop{index // 50}.example"
            self.world.hard_pairs["role_email"].update((other, index) for other in staff)
            staff.append(index)
        phone = person["phone"]
        if rng.random() < 0.04 and index > 0:  # a recycled number: its previous owner had it first
            previous = rng.randrange(index)
            phone = f"+4479{previous:08d}"
            self.world.hard_pairs["reassigned_phone"].add((previous, index))
            at = max(at, START + timedelta(days=61))  # after the previous owner's records
        crm = {"customer_id": person["customer_id"], "email": email, "phone": phone}
        self._event(index, "crm", "customer_update", at, crm, person["fields"])
        for device in filter(None, (person["device"], person["tablet"])):
            self._event(index, "web", "login", at + timedelta(hours=1), {"email": email, "device_id": device})
        for n in range(rng.randint(1, 3)):
            self._event(
                index, "web", "page_view", at + timedelta(hours=2 + n), {"device_id": person["device"]}
            )
        for n in range(rng.randint(1, 2)):
            fields = self._typos(person["fields"])
            loyalty = {"loyalty_id": person["loyalty_id"]}
            self._event(index, "pos", "purchase", at + timedelta(days=1 + n), loyalty, fields, amount="12.50")

    def _typos(self, fields: dict[str, str]) -> dict[str, str]:
        rng = self.rng
        typed = dict(fields)
        for name in ("first_name", "last_name", "street"):
            if rng.random() < 0.3:
                typed[name] = _typo(rng, typed[name])
        if typed != fields:
            self.world.typo_records += 1
        return typed

    def _event(
        self,
        person: int,
        source: str,
        type_: str,
        at: datetime,
        ids: dict[str, str],
        fields: dict[str, str] | None = None,
        amount: str | None = None,
    ) -> None:
        self.serial += 1
        event = build_event(
            event_id=f"{source}-{self.serial:08d}",
            source=source,
            type=type_,
            occurred_at=at,
            channel=source,
            identifiers=[{"type": t, "value": v} for t, v in ids.items()],
            amount=amount,
            attributes={} if fields is None else {"person": fields},
        )
        self.world.events.append(event)
        self.world.owner[event.event_id] = person
        if fields is not None:
            self.world.records[event.event_id] = dict(fields)


def _typo(rng: Random, value: str) -> str:
    """One keyboard slip: a dropped, doubled, swapped or replaced letter."""
    if len(value) < 4:
        return value
    i = rng.randrange(1, len(value) - 1)
    slip = rng.randrange(4)
    if slip == 0:
        return value[:i] + value[i + 1 :]
    if slip == 1:
        return value[:i] + value[i] + value[i:]
    if slip == 2:
        return value[: i - 1] + value[i] + value[i - 1] + value[i + 1 :]
    return value[:i] + rng.choice("aeiourstn") + value[i + 1 :]


@dataclass(frozen=True)
class ProfileAccuracy:
    """Pairwise over events: two events on one profile should be one person's, and vice versa."""

    precision: float
    recall: float
    profiles: int
    people: int
    false_merges: dict[str, int]  # hard-case kind -> pairs of people that ended on one profile


def profile_accuracy(world: IdentityWorld, placed: dict[str, str]) -> ProfileAccuracy:
    """`placed`: event id -> the live profile it ended on."""
    both: dict[tuple[str, int], int] = {}
    by_profile: dict[str, int] = {}
    by_person: dict[int, int] = {}
    people_on: dict[str, set[int]] = {}
    for event_id, profile in placed.items():
        person = world.owner[event_id]
        both[(profile, person)] = both.get((profile, person), 0) + 1
        by_profile[profile] = by_profile.get(profile, 0) + 1
        by_person[person] = by_person.get(person, 0) + 1
        people_on.setdefault(profile, set()).add(person)
    hits = sum(_pairs(n) for n in both.values())
    predicted = sum(_pairs(n) for n in by_profile.values())
    truth = sum(_pairs(n) for n in by_person.values())
    together = {(a, b) for group in people_on.values() for a in group for b in group if a < b}
    false_merges = {kind: len(pairs & together) for kind, pairs in world.hard_pairs.items()}
    return ProfileAccuracy(
        hits / predicted if predicted else 1.0,
        hits / truth if truth else 1.0,
        len(by_profile),
        len(by_person),
        false_merges,
    )


def _pairs(n: int) -> int:
    return n * (n - 1) // 2
