"""The demo world's ground truth must agree with what it publishes, read back by independent rules.

These tests parse the published JSON the way a pipeline would (strip/lower emails, strip ids,
phonenumbers to E.164) and compare with the generator's own records, so a bug on either side shows.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import phonenumbers
import pytest

from c360.world import DEFAULT_NOW, TOPICS, Message, World, generate_world

PEOPLE = 2_000
EVENTS_PER_PERSON = 8
MONEY = re.compile(r"^\d+\.\d{2}$")


@pytest.fixture(scope="module")
def world() -> World:
    return generate_world(people=PEOPLE, events_per_person=EVENTS_PER_PERSON, seed=7, holdings=True)


# --------------------------------------------------------------------------------------------------
# Independent reading of the published messages


def _email(raw: str) -> str:
    return raw.strip().lower()


def _phone(raw: str) -> str:
    return phonenumbers.format_number(phonenumbers.parse(raw, "GB"), phonenumbers.PhoneNumberFormat.E164)


def _decode(message: Message) -> dict[str, Any]:
    return json.loads(message.value, parse_float=Decimal)


def _identifiers(topic: str, v: dict[str, Any]) -> set[tuple[str, str]]:
    """Canonical identifiers one message carries; co-occurrence in a message is the stitching evidence."""
    if topic == "corebank.customers":
        ids = {("customer_id", v["customer_no"].strip()), ("email", _email(v["email"]))}
        ids.add(("phone", _phone(v["mobile"])))
        return ids | {("account_id", a.strip()) for a in v["accounts"]}
    if topic == "corebank.transactions":
        return {("account_id", v["account"].strip())}
    if topic == "web.clickstream":
        ids = {("cookie", v["cookie"].strip())}
        if v["user_email"] is not None:
            ids.add(("email", _email(v["user_email"])))
        return ids
    if topic == "marketing.email":
        return {("email", _email(v["recipient"]))}
    if topic == "store.orders":
        return {("phone", _phone(v["phone"]))}
    if topic == "support.tickets":
        return {("email", _email(v["ticket"]["requester"]["email"]))}
    if topic == "crm.public.product_holdings":
        return {("customer_id", v["after"]["customer_id"])}
    raise AssertionError(topic)


def _event(topic: str, v: dict[str, Any]) -> tuple[str, str, datetime, Decimal | None]:
    """(canonical type, channel, UTC time, money) as the mapping contract defines them."""
    if topic == "corebank.customers":
        return "customer_updated", "core_banking", datetime.fromisoformat(v["updated_at"]), None
    if topic == "corebank.transactions":
        return "transaction", v["channel"], datetime.fromisoformat(v["booked_at"]), Decimal(v["amount"])
    if topic == "web.clickstream":
        kind = {"page_view": "page_view", "login": "login", "error": "web_error"}[v["action"]]
        return kind, "web", datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=v["ts"]), None
    if topic == "marketing.email":
        at = datetime.strptime(v["timestamp"], "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
        return f"email_{v['event']}", "email", at, None
    if topic == "store.orders":
        return "order", "store", datetime.fromtimestamp(v["ordered_at"], UTC), v["total"]
    if topic == "support.tickets":
        kind = {"open": "ticket_open", "solved": "ticket_solved"}[v["ticket"]["status"]]
        return kind, "support", datetime.fromisoformat(v["ticket"]["updated_at"]), None
    raise AssertionError(topic)


class _UnionFind:
    def __init__(self) -> None:
        self.parent: dict[tuple[str, str], tuple[str, str]] = {}

    def find(self, x: tuple[str, str]) -> tuple[str, str]:
        self.parent.setdefault(x, x)
        while self.parent[x] != x:
            self.parent[x] = self.parent[self.parent[x]]
            x = self.parent[x]
        return x

    def union(self, items: set[tuple[str, str]]) -> None:
        first, *rest = items
        for other in rest:
            self.parent[self.find(other)] = self.find(first)


# --------------------------------------------------------------------------------------------------
# Tests


def test_same_seed_gives_byte_identical_messages(world: World) -> None:
    again = generate_world(people=PEOPLE, events_per_person=EVENTS_PER_PERSON, seed=7, holdings=True)
    assert [(m.topic, m.key, m.value, m.person) for m in again.messages] == [
        (m.topic, m.key, m.value, m.person) for m in world.messages
    ]
    other = generate_world(people=PEOPLE, events_per_person=EVENTS_PER_PERSON, seed=8, holdings=True)
    assert [m.value for m in other.messages[:50]] != [m.value for m in world.messages[:50]]


def test_no_identifier_is_shared_between_people(world: World) -> None:
    owner: dict[tuple[str, str], int] = {}
    for person in world.people:
        for ident in person.identifiers():
            assert owner.setdefault(ident, person.index) == person.index, ident
    assert world.owner_of("cookie", world.people[0].cookies[0]) == 0
    assert world.owner_of("email", "nobody@nowhere.invalid") is None


def test_ground_truth_identifiers_are_canonical_and_valid(world: World) -> None:
    for person in world.people:
        for email in person.emails:
            assert email == email.strip().lower()
            assert not email.endswith(("example.com", "test"))
        for phone in person.phones:
            parsed = phonenumbers.parse(phone)
            assert phonenumbers.is_valid_number(parsed)
            assert phonenumbers.region_code_for_number(parsed) == "GB"
            assert _phone(phone) == phone
        for ident in (person.customer_id or "", *person.accounts, *person.cookies):
            assert ident == ident.strip()


def test_published_identifiers_normalize_to_their_owner(world: World) -> None:
    seen: dict[int, set[tuple[str, str]]] = defaultdict(set)
    for message in world.messages:
        ids = _identifiers(message.topic, _decode(message))
        seen[message.person] |= ids
    for person in world.people:
        assert seen[person.index] == person.identifiers(), person


def test_each_person_is_exactly_one_connected_component(world: World) -> None:
    uf = _UnionFind()
    for message in world.messages:
        uf.union(_identifiers(message.topic, _decode(message)))
    roots: dict[tuple[str, str], int] = {}
    for person in world.people:
        person_roots = {uf.find(ident) for ident in person.identifiers()}
        assert len(person_roots) == 1, person
        root = person_roots.pop()
        assert roots.setdefault(root, person.index) == person.index, "two people stitched together"


def test_messy_forms_are_actually_published(world: World) -> None:
    values = [(m.topic, _decode(m)) for m in world.messages]
    phones = {v["phone"] for t, v in values if t == "store.orders"}
    emails = {v["recipient"] for t, v in values if t == "marketing.email"}
    accounts = {v["account"] for t, v in values if t == "corebank.transactions"}
    assert any(p.startswith("+44") and " " not in p for p in phones)
    assert any(p.startswith("+44 ") for p in phones)
    assert any(p.startswith("0") for p in phones)
    assert any(e != e.strip() for e in emails)
    assert any(e.strip() != e.strip().lower() for e in emails)
    assert any(a != a.strip() for a in accounts)


def test_kafka_key_is_the_natural_key_as_published(world: World) -> None:
    key_field = {
        "corebank.customers": "customer_no",
        "corebank.transactions": "account",
        "web.clickstream": "cookie",
        "marketing.email": "recipient",
        "store.orders": "phone",
    }
    for message in world.messages:
        value = _decode(message)
        if message.topic == "support.tickets":
            assert message.key == str(value["ticket"]["id"]).encode()
        elif message.topic == "crm.public.product_holdings":
            assert json.loads(message.key) == {"id": value["after"]["id"]}  # Debezium's key: the primary key
        else:
            assert message.key == value[key_field[message.topic]].encode()


def test_money_fields_parse_back_exactly(world: World) -> None:
    for message in world.messages:
        v = _decode(message)
        if message.topic == "corebank.transactions":
            assert MONEY.match(v["amount"]) and Decimal(v["amount"]) > 0
            assert v["dc"] in ("D", "C")
        elif message.topic == "store.orders":
            assert isinstance(v["total"], Decimal)
            assert v["total"].as_tuple().exponent == -2
            assert all(MONEY.match(item["price"]) for item in v["items"])
            assert v["total"] == sum(item["qty"] * Decimal(item["price"]) for item in v["items"])
            assert json.loads(message.value)["total"] == float(v["total"])


def test_ground_truth_profiles_match_the_published_events(world: World) -> None:
    counts: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    sums: dict[int, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    times: dict[int, list[datetime]] = defaultdict(list)
    channels: dict[int, dict[str, datetime]] = defaultdict(dict)
    for message in world.messages:
        if message.topic == "crm.public.product_holdings":
            continue  # CDC rows are state, not activity: no counts
        kind, channel, at, money = _event(message.topic, _decode(message))
        p = message.person
        counts[p][kind] += 1
        if money is not None:
            sums[p][kind] += money
        times[p].append(at)
        channels[p][channel] = max(at, channels[p].get(channel, at))
    for expected in world.expected_profiles():
        p = expected.person
        assert expected.counts == counts[p]
        assert expected.sums == sums[p]
        assert expected.first_seen == min(times[p])
        assert expected.last_seen == max(times[p])
        assert expected.channels == channels[p]
        assert all(s.as_tuple().exponent == -2 for s in expected.sums.values())


def test_counts_add_up_to_the_messages(world: World) -> None:
    stats = world.stats()
    total = sum(sum(profile.counts.values()) for profile in world.expected_profiles())
    assert total == len(world.messages) - stats["crm.public.product_holdings"]  # CDC rows: state, not counts
    assert len(world.messages) == sum(stats.values())
    assert set(stats) == set(TOPICS)
    # events_per_person budgets the original five sources; tickets and holdings come on top.
    average = (len(world.messages) - stats["support.tickets"] - stats["crm.public.product_holdings"]) / PEOPLE
    assert EVENTS_PER_PERSON * 0.85 < average < EVENTS_PER_PERSON * 1.15


def test_times_are_in_the_window_with_millisecond_precision(world: World) -> None:
    start = DEFAULT_NOW - timedelta(days=120)
    for profile in world.expected_profiles():
        for at in (profile.first_seen, profile.last_seen, *profile.channels.values()):
            assert at.tzinfo is not None and at.utcoffset() == timedelta(0)
            assert start <= at < DEFAULT_NOW
            assert at.microsecond % 1000 == 0


def test_population_shape(world: World) -> None:
    web_only = [p for p in world.people if p.web_only]
    assert 0.02 * PEOPLE < len(web_only) < 0.08 * PEOPLE
    assert all(p.identifiers() == {("cookie", p.cookies[0])} for p in web_only)
    bank = [p for p in world.people if not p.web_only]
    assert 0.06 * len(bank) < sum(len(p.emails) == 2 for p in bank) < 0.14 * len(bank)
    assert 0.06 * len(bank) < sum(len(p.phones) == 2 for p in bank) < 0.14 * len(bank)
    assert all(1 <= len(p.accounts) <= 2 and 1 <= len(p.cookies) <= 3 for p in bank)
    stats = world.stats()
    assert stats["corebank.transactions"] > stats["marketing.email"] > stats["store.orders"]


def test_changed_phone_appears_only_in_the_later_master_record(world: World) -> None:
    changed = {p.index: p for p in world.people if len(p.phones) == 2}
    versions: dict[int, dict[int, tuple[datetime, str]]] = defaultdict(dict)
    for message in world.messages:
        if message.topic == "corebank.customers" and message.person in changed:
            v = _decode(message)
            versions[message.person][v["version"]] = (datetime.fromisoformat(v["updated_at"]), v["mobile"])
    for index, person in changed.items():
        (t1, phone1), (t2, phone2) = versions[index][1], versions[index][2]
        assert t1 < t2
        assert (_phone(phone1), _phone(phone2)) == person.phones


def test_rejects_bad_parameters() -> None:
    with pytest.raises(ValueError):
        generate_world(people=0)
    with pytest.raises(ValueError):
        generate_world(people=1, now=datetime(2026, 1, 1))
