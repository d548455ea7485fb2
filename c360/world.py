"""Seeded demo world: people, their fragmented identifiers, the raw Kafka messages they cause.

The generator is the project's ground truth. It knows which message belongs to which person and what
each stitched profile must say, computed from its own records (never by parsing what it publishes), so
tests and benchmarks can diff the pipeline's output against it. Pure: no I/O; the same arguments give
byte-identical messages.

Identifiers are published messily (case, whitespace, phone formats) while the ground truth keeps the
canonical form: email stripped and lower-cased, phone E.164, ids stripped.
"""

from __future__ import annotations

import json
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from random import Random
from typing import Any, TypeVar

import phonenumbers

T = TypeVar("T")

TOPIC_CUSTOMERS = "corebank.customers"
TOPIC_TRANSACTIONS = "corebank.transactions"
TOPIC_CLICKSTREAM = "web.clickstream"
TOPIC_EMAIL = "marketing.email"
TOPIC_ORDERS = "store.orders"
TOPIC_TICKETS = "support.tickets"
TOPIC_HOLDINGS = "crm.public.product_holdings"
TOPICS: tuple[str, ...] = (
    TOPIC_CUSTOMERS, TOPIC_TRANSACTIONS, TOPIC_CLICKSTREAM, TOPIC_EMAIL, TOPIC_ORDERS, TOPIC_TICKETS,
    TOPIC_HOLDINGS,
)  # fmt: skip

DEFAULT_NOW = datetime(2026, 11, 20, tzinfo=UTC)
DEFAULT_SEED = 360
WINDOW = timedelta(days=120)
WEB_ONLY_SHARE = 0.05
SECOND_EMAIL_SHARE = 0.10
PHONE_CHANGE_SHARE = 0.10

# Identifier types as the identity graph names them.
CUSTOMER_ID, ACCOUNT_ID, EMAIL, PHONE, COOKIE = "customer_id", "account_id", "email", "phone", "cookie"

_EPOCH = datetime(1970, 1, 1)  # naive: wall-clock arithmetic for rendering only
_dumps = json.JSONEncoder(separators=(",", ":")).encode

FIRST_NAMES = (
    "Oliver", "George", "Harry", "Jack", "Jacob", "Noah", "Charlie", "Muhammad", "Thomas", "Oscar",
    "William", "James", "Leo", "Alfie", "Henry", "Joshua", "Freddie", "Archie", "Ethan", "Isaac",
    "Olivia", "Amelia", "Isla", "Ava", "Emily", "Sophia", "Grace", "Mia", "Poppy", "Ella", "Lily",
    "Evie", "Isabella", "Sophie", "Ivy", "Freya", "Harper", "Willow", "Chloe", "Priya", "Aisha",
    "Siobhan", "Niamh", "Rhys", "Callum", "Fiona", "Hamish", "Zara", "Ravi", "Anika", "Tomasz",
)  # fmt: skip
LAST_NAMES = (
    "Smith", "Jones", "Williams", "Taylor", "Brown", "Davies", "Evans", "Wilson", "Thomas", "Johnson",
    "Roberts", "Robinson", "Thompson", "Wright", "Walker", "White", "Edwards", "Hughes", "Green", "Hall",
    "Lewis", "Harris", "Clarke", "Patel", "Jackson", "Wood", "Turner", "Martin", "Cooper", "Hill",
    "Ward", "Morris", "Moore", "Clark", "Lee", "King", "Baker", "Harrison", "Morgan", "Allen", "James",
    "Scott", "Phillips", "Watson", "Davis", "Parker", "Price", "Bennett", "Young", "Griffiths",
    "Mitchell", "Kelly", "Cook", "Carter", "Richardson", "Bailey", "Collins", "Bell", "Shaw", "Murphy",
    "O'Brien", "O'Neill", "Khan", "Ahmed", "Singh", "Nowak", "MacDonald", "Campbell", "Stewart", "Reid",
)  # fmt: skip
EMAIL_DOMAINS = (
    ("gmail.com", 40), ("outlook.com", 14), ("hotmail.co.uk", 12), ("yahoo.co.uk", 10),
    ("btinternet.com", 8), ("icloud.com", 8), ("live.co.uk", 4), ("sky.com", 2), ("aol.com", 2),
)  # fmt: skip
CHANNELS = ("mobile", "branch", "atm", "online", "pos")
_CHANNEL_TABLE = ("mobile",) * 30 + ("branch",) * 5 + ("atm",) * 10 + ("online",) * 20 + ("pos",) * 35
MCCS = ("5411", "5812", "5814", "5541", "5311", "5732", "4111", "4121", "5912", "5999", "6011", "7011")
PAGES = (
    "/", "/accounts", "/accounts/statements", "/cards", "/cards/credit", "/savings", "/mortgages",
    "/loans/personal", "/insurance/home", "/help", "/help/contact", "/offers", "/settings/profile",
)  # fmt: skip
WEB_ERRORS = (
    (500, "Internal Server Error"), (502, "Bad Gateway"), (503, "Service Unavailable"),
    (504, "Gateway Timeout"), (404, "Not Found"),
)  # fmt: skip
CAMPAIGNS = (
    "welcome-series", "savings-boost-q4", "card-upgrade", "black-friday-2026", "mortgage-rate-drop",
    "travel-money", "isa-season", "app-feature-news", "loyalty-rewards", "winter-sale",
)  # fmt: skip
# UK mobile ranges that are ordinary mobiles (076 is mostly pagers).
_MOBILE_SECOND_DIGITS = "45789"
_OFFSETS = (("Z", 0), ("Z", 0), ("+00:00", 0), ("+01:00", 60), ("+01:00", 60), ("-05:00", -300))
_WEB_KINDS = {"page_view": "page_view", "login": "login", "error": "web_error"}
# Products a bank person holds: (type, share of people, whether it has a credit limit).
PRODUCTS = (
    ("current_account", 1.0, False), ("credit_card", 0.5, True), ("savings", 0.4, False),
    ("personal_loan", 0.15, False), ("mortgage", 0.2, False),
)  # fmt: skip
TICKET_SUBJECTS = (
    "Card declined abroad", "Cannot log in to the app", "Dispute a transaction", "Change of address",
    "Statement missing", "Fee charged in error", "Question about savings rates",
)  # fmt: skip
TICKET_CHANNELS = ("phone", "email", "web", "chat")
FULFILMENT_ONLINE_SHARE = 0.4
_ID_PADDING = (" ", "  ", "\t", " \n")


# --------------------------------------------------------------------------------------------------
# Public records


@dataclass(slots=True)
class Message:
    """One raw Kafka record as a source system would publish it, tagged with its true owner."""

    topic: str
    key: bytes
    value: bytes
    person: int


@dataclass(slots=True)
class Person:
    """A person's canonical identifiers; `customer_id` is None for web-only visitors."""

    index: int
    customer_id: str | None
    first_name: str | None
    last_name: str | None
    accounts: tuple[str, ...]
    emails: tuple[str, ...]
    phones: tuple[str, ...]
    cookies: tuple[str, ...]

    @property
    def web_only(self) -> bool:
        return self.customer_id is None

    def identifiers(self) -> set[tuple[str, str]]:
        """(type, canonical value) pairs: exactly what one stitched profile must hold."""
        ids = {(ACCOUNT_ID, a) for a in self.accounts}
        ids.update((EMAIL, e) for e in self.emails)
        ids.update((PHONE, p) for p in self.phones)
        ids.update((COOKIE, c) for c in self.cookies)
        if self.customer_id is not None:
            ids.add((CUSTOMER_ID, self.customer_id))
        return ids


@dataclass(slots=True)
class ExpectedProfile:
    """What the pipeline's profile for one person must say once every message is ingested."""

    person: int
    identifiers: set[tuple[str, str]]
    counts: dict[str, int]
    sums: dict[str, Decimal]
    first_seen: datetime
    last_seen: datetime
    channels: dict[str, datetime]


@dataclass(slots=True)
class World:
    """Generated people, their messages in publishing order, and each person's expected profile."""

    seed: int
    now: datetime
    people: list[Person]
    messages: list[Message]
    # Compact running totals; ExpectedProfile objects are built on demand to keep 1M-event worlds small.
    _tallies: list[_Tally] = field(repr=False)
    _owners: dict[tuple[str, str], int] | None = field(default=None, repr=False)

    def expected_profile(self, person: Person | int) -> ExpectedProfile:
        index = person if isinstance(person, int) else person.index
        return self._tallies[index].profile(self.people[index])

    def expected_profiles(self) -> Iterator[ExpectedProfile]:
        """Every person's expected profile, in person order."""
        return (self.expected_profile(p) for p in self.people)

    def facts(self, person: Person | int) -> list[tuple[Any, ...]]:
        """What each of the person's events said, in emission order: see `c360/world_truth.py`."""
        return self._tallies[person if isinstance(person, int) else person.index].facts

    def owner_of(self, id_type: str, value: str) -> int | None:
        """Index of the person holding a canonical identifier, or None: maps pipeline profiles back."""
        if self._owners is None:
            self._owners = {ident: p.index for p in self.people for ident in p.identifiers()}
        return self._owners.get((id_type, value))

    def stats(self) -> dict[str, int]:
        """Messages per topic, in TOPICS order."""
        per_topic = Counter(m.topic for m in self.messages)
        return {topic: per_topic[topic] for topic in TOPICS}


def generate_world(
    people: int = 10_000,
    events_per_person: float = 20.0,
    seed: int = DEFAULT_SEED,
    now: datetime = DEFAULT_NOW,
    holdings: bool = False,
) -> World:
    """Build the world: same arguments, byte-identical messages (one `Random(seed)` drives all).

    `holdings` adds Debezium snapshot records of product holdings (CDC state). Off by default, so that the
    JSON-only worlds of the spine's tests and benchmarks stay byte-identical; the full-profile and lake
    tests turn it on."""
    if people < 1:
        raise ValueError("people must be at least 1")
    if events_per_person < 1:
        raise ValueError("events_per_person must be at least 1")
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    return _Generator(people, events_per_person, seed, now, holdings).run()


# --------------------------------------------------------------------------------------------------
# Rendering helpers: canonical value -> one of its published forms


def _ms_to_datetime(ms: int) -> datetime:
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=ms)


def _iso_with_offset(ms: int, suffix: str, offset_min: int, *, millis: bool) -> str:
    """ISO-8601 local wall time plus offset; 'Z' for UTC. Exact: integer millisecond arithmetic."""
    local = _EPOCH + timedelta(milliseconds=ms + offset_min * 60_000)
    return local.isoformat(timespec="milliseconds" if millis else "seconds") + suffix


def _naive_utc(ms: int) -> str:
    return (_EPOCH + timedelta(milliseconds=ms)).isoformat(sep=" ", timespec="seconds")


def _pick(rng: Random, items: Sequence[T]) -> T:
    """`rng.choice` at a fraction of its cost; it matters at a million events."""
    return items[int(rng.random() * len(items))]


def _cents_str(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"


def _cents_str_signed(hundredths: int) -> str:
    return ("-" if hundredths < 0 else "") + _cents_str(abs(hundredths))


def _iso_z(ms: int) -> str:
    return (_EPOCH + timedelta(milliseconds=ms)).isoformat(timespec="seconds") + "Z"


def _messy_id(rng: Random, value: str) -> str:
    """Source systems sometimes pad ids; canonical form is `value.strip()`."""
    if rng.random() >= 0.06:
        return value
    pad = _ID_PADDING[rng.randrange(len(_ID_PADDING))]
    where = rng.random()
    if where < 0.4:
        return pad + value
    if where < 0.8:
        return value + pad
    return pad + value + pad


def _display_email(email: str) -> str:
    """How a person might type their address: 'John.Smith@Gmail.com'."""
    local, _, domain = email.partition("@")
    return f"{local.title()}@{domain.capitalize()}"


def _messy_email(rng: Random, email: str) -> str:
    """Canonical form is `value.strip().lower()`."""
    r = rng.random()
    if r < 0.6:
        return email
    if r < 0.85:
        return _display_email(email)
    if r < 0.95:
        return f"  {_display_email(email)} "
    return email.upper()


_PHONE_FORMATS: tuple[tuple[float, Callable[[str], str]], ...] = (
    (0.35, lambda n: f"+44{n}"),
    (0.55, lambda n: f"+44 {n[:4]} {n[4:]}"),
    (0.75, lambda n: f"0{n[:4]} {n[4:]}"),
    (0.82, lambda n: f"0{n}"),
    (0.88, lambda n: f"0{n[:4]}-{n[4:7]}-{n[7:]}"),
    (0.93, lambda n: f"(0{n[:4]}) {n[4:]}"),
    (0.97, lambda n: f"+44 (0){n[:4]} {n[4:]}"),
    (1.01, lambda n: f"0044 {n[:4]} {n[4:]}"),
)


def _messy_phone(rng: Random, e164: str) -> str:
    """The same UK mobile in one of the formats people and systems write; canonical is E.164."""
    national = e164[3:]
    r = rng.random()
    for threshold, render in _PHONE_FORMATS:
        if r < threshold:
            return render(national)
    raise AssertionError("unreachable")


# --------------------------------------------------------------------------------------------------
# Identifier allocation: unique across people by construction or by a taken-set


def _is_gb_mobile(national: str) -> bool:
    number = phonenumbers.PhoneNumber(country_code=44, national_number=int(national))
    return phonenumbers.is_valid_number_for_region(number, "GB")


class _Allocator:
    """Hands out identifiers no other person holds."""

    def __init__(self, rng: Random, people: int, accounts: int) -> None:
        if people > 9_000_000 or accounts > 90_000_000:
            raise ValueError("too many people for the id formats")
        self.rng = rng
        self._customer_nos = iter(rng.sample(range(1_000, 10_000_000), people))
        self._account_nos = iter(rng.sample(range(10_000, 100_000_000), accounts))
        self._taken: set[str] = set()

    def customer_no(self) -> str:
        return f"CUST-{next(self._customer_nos):07d}"

    def account(self) -> str:
        return f"ACC-{next(self._account_nos):08d}"

    def cookie(self) -> str:
        return self._unique(lambda: f"ck_{self.rng.getrandbits(64):016x}")

    def phone(self) -> str:
        rng = self.rng

        def candidate() -> str:
            while True:
                national = f"7{rng.choice(_MOBILE_SECOND_DIGITS)}{rng.randrange(100_000_000):08d}"
                if _is_gb_mobile(national):
                    return f"+44{national}"

        return self._unique(candidate)

    def email(self, first: str, last: str, *, avoid_domain: str | None = None) -> str:
        rng = self.rng
        f, surname = _ascii_lower(first), _ascii_lower(last)
        local = rng.choice((f"{f}.{surname}", f"{f[0]}{surname}", f"{f}{surname}", f"{f}_{surname}"))
        domain = avoid_domain
        while domain == avoid_domain:
            domain = rng.choices(_DOMAIN_NAMES, _DOMAIN_WEIGHTS)[0]
        email = f"{local}@{domain}"
        while email in self._taken:
            email = f"{local}{rng.randrange(1, 10_000)}@{domain}"
        self._taken.add(email)
        return email

    def _unique(self, make: Callable[[], str]) -> str:
        value = make()
        while value in self._taken:
            value = make()
        self._taken.add(value)
        return value


_DOMAIN_NAMES = tuple(d for d, _ in EMAIL_DOMAINS)
_DOMAIN_WEIGHTS = tuple(w for _, w in EMAIL_DOMAINS)


def _ascii_lower(name: str) -> str:
    return "".join(ch for ch in name.lower() if ch.isalpha())


# --------------------------------------------------------------------------------------------------
# Generation


class _Tally:
    """Running ground truth for one person, updated as each event is emitted.

    `facts` keeps what each event said, as plain tuples (`c360/world_truth.py` reads them): the
    windowed and derived profile fields are computed from them for any clock.
    """

    __slots__ = ("cents", "channels", "counts", "facts", "first", "last")

    def __init__(self) -> None:
        self.facts: list[tuple[Any, ...]] = []
        self.counts: dict[str, int] = {}
        self.cents: dict[str, int] = {}
        self.channels: dict[str, int] = {}
        self.first = 1 << 62
        self.last = -1

    def add(self, kind: str, channel: str, at_ms: int, cents: int | None = None) -> None:
        self.counts[kind] = self.counts.get(kind, 0) + 1
        if cents is not None:
            self.cents[kind] = self.cents.get(kind, 0) + cents
        if at_ms > self.channels.get(channel, -1):
            self.channels[channel] = at_ms
        if at_ms < self.first:
            self.first = at_ms
        if at_ms > self.last:
            self.last = at_ms

    def profile(self, person: Person) -> ExpectedProfile:
        return ExpectedProfile(
            person=person.index,
            identifiers=person.identifiers(),
            counts=dict(self.counts),
            sums={k: Decimal(v).scaleb(-2) for k, v in self.cents.items()},
            first_seen=_ms_to_datetime(self.first),
            last_seen=_ms_to_datetime(self.last),
            channels={k: _ms_to_datetime(v) for k, v in self.channels.items()},
        )


class _Generator:
    """Walks people one by one, emitting their events; sorts everything by jittered time at the end."""

    def __init__(
        self, people: int, events_per_person: float, seed: int, now: datetime, holdings: bool
    ) -> None:
        self.rng = Random(seed)
        self.holdings = holdings
        self.n_people = people
        self.events_per_person = float(events_per_person)
        self.seed = seed
        self.now = now
        self.now_ms = int((now - datetime(1970, 1, 1, tzinfo=UTC)) / timedelta(milliseconds=1))
        self.window_ms = int(WINDOW / timedelta(milliseconds=1))
        self.messages: list[Message] = []
        self.sort_keys: list[int] = []
        self.seq = 0
        self.cookie_device: dict[str, str] = {}
        self.key_cache: dict[str, bytes] = {}
        self.skus = [(f"SKU-{i:03d}", self._price_cents()) for i in range(1, 301)]
        # Sources added later draw from their own generator, so the original messages stay byte-identical.
        self.extra = Random(seed * 7_919 + 1)
        self.ticket_seq = 100_000
        self.holding_seq = 0

    def _price_cents(self) -> int:
        return int(self.rng.lognormvariate(6.5, 1.0)) + 49

    def run(self) -> World:
        rng = self.rng
        web_only = [rng.random() < WEB_ONLY_SHARE for _ in range(self.n_people)]
        n_accounts = [0 if w else 1 + (rng.random() < 0.35) for w in web_only]
        alloc = _Allocator(rng, self.n_people, sum(n_accounts))
        people: list[Person] = []
        tallies: list[_Tally] = []
        for index in range(self.n_people):
            if web_only[index]:
                person = self._web_only_person(index, alloc)
            else:
                person = self._bank_person(index, alloc, n_accounts[index])
            tally = _Tally()
            self._emit_person(person, tally)
            people.append(person)
            tallies.append(tally)
        order = sorted(range(len(self.messages)), key=self.sort_keys.__getitem__)
        messages = [self.messages[i] for i in order]
        return World(self.seed, self.now, people, messages, tallies)

    # -- people -----------------------------------------------------------------------------------

    def _bank_person(self, index: int, alloc: _Allocator, n_accounts: int) -> Person:
        rng = self.rng
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        emails = [alloc.email(first, last)]
        if rng.random() < SECOND_EMAIL_SHARE:
            emails.append(alloc.email(first, last, avoid_domain=emails[0].partition("@")[2]))
        phones = [alloc.phone()]
        if rng.random() < PHONE_CHANGE_SHARE:
            phones.append(alloc.phone())
        cookies = tuple(alloc.cookie() for _ in range(rng.choice((1, 1, 2, 2, 3))))
        return Person(
            index=index,
            customer_id=alloc.customer_no(),
            first_name=first,
            last_name=last,
            accounts=tuple(alloc.account() for _ in range(n_accounts)),
            emails=tuple(emails),
            phones=tuple(phones),
            cookies=cookies,
        )

    def _web_only_person(self, index: int, alloc: _Allocator) -> Person:
        return Person(index, None, None, None, (), (), (), (alloc.cookie(),))

    # -- one person's history ---------------------------------------------------------------------

    def _emit_person(self, person: Person, tally: _Tally) -> None:
        rng = self.rng
        for cookie in person.cookies:
            self.cookie_device[cookie] = "mobile" if rng.random() < 0.6 else "desktop"
        # Onboarded somewhere in the first two thirds of the window; active until now.
        start = self.now_ms - self.window_ms + int(rng.random() * self.window_ms * 2 / 3)
        span = self.now_ms - start
        if person.web_only:
            self._page_view(person, tally, start + int(rng.random() * span))
            self._fill(person, tally, start, span, self._extra_events(1), phone_change=None)
            return
        # Structural events: they are what connects every identifier of the person.
        self._customer(person, tally, start - start % 1000, version=1)
        structural = 1
        change_ms = None
        # A changed phone or a second email reaches core banking in a version-2 record: merge keys alone
        # connect a person, since cookies only attach (identity/rules.py).
        if len(person.phones) > 1 or len(person.emails) > 1:
            change_ms = start + int(span * (0.3 + 0.6 * rng.random()))
            change_ms -= change_ms % 1000
            self._customer(person, tally, change_ms, version=2)
            structural += 1
        for cookie in person.cookies:
            self._login(person, tally, start + int(rng.random() * span), cookie, person.emails[0])
            structural += 1
        if len(person.emails) > 1 and change_ms is not None:  # logs in with it once the bank knows it
            cookie = _pick(rng, person.cookies)
            self._login(
                person,
                tally,
                change_ms + int(rng.random() * (self.now_ms - change_ms)),
                cookie,
                person.emails[1],
            )
            structural += 1
        self._fill(person, tally, start, span, self._extra_events(structural), phone_change=change_ms)
        if self.holdings:
            self._holdings(person, tally, start)
        self._tickets(person, tally, start, span)

    def _extra_events(self, structural: int) -> int:
        """Gamma-distributed activity so the average person totals ~events_per_person."""
        mean = max(self.events_per_person - structural, 1.0)
        return round(self.rng.gammavariate(2.0, mean / 2.0))

    def _fill(
        self, person: Person, tally: _Tally, start: int, span: int, budget: int, phone_change: int | None
    ) -> None:
        """Spend the person's remaining event budget on a realistic mix: transactions most common."""
        rng = self.rng
        while budget > 0:
            at = start + int(rng.random() * span)
            r = rng.random()
            if person.web_only:
                if r < 0.9:
                    self._page_view(person, tally, at)
                else:
                    self._web_error(person, tally, at)
                budget -= 1
            elif r < 0.50:
                self._transaction(person, tally, at)
                budget -= 1
            elif r < 0.72:
                self._page_view(person, tally, at)
                budget -= 1
            elif r < 0.76:
                known = phone_change is not None and at >= phone_change  # the version-2 record's time
                email = person.emails[0] if rng.random() < 0.8 or not known else _pick(rng, person.emails)
                self._login(person, tally, at, _pick(rng, person.cookies), email)
                budget -= 1
            elif r < 0.78:
                self._web_error(person, tally, at)
                budget -= 1
            elif r < 0.92:
                budget -= self._email_funnel(person, tally, at, budget)
            else:
                at -= at % 1000
                changed = phone_change is not None and at >= phone_change
                self._order(person, tally, at, person.phones[-1] if changed else person.phones[0])
                budget -= 1

    def _emit(
        self, topic: str, key: str, value: str, person: int, at_ms: int, *, extra: bool = False
    ) -> None:
        """Queue a record; sort key = event time plus up to 3 s of delivery jitter (stable sort).

        `extra` records (the later sources) draw their jitter from `self.extra` and leave `seq` alone."""
        key_bytes = self.key_cache.get(key)
        if key_bytes is None:  # keys repeat a lot; sharing them saves ~50 bytes a message
            key_bytes = self.key_cache[key] = key.encode()
        self.messages.append(Message(topic, key_bytes, value.encode(), person))
        self.sort_keys.append(at_ms + int((self.extra if extra else self.rng).random() * 3_000))
        if not extra:
            self.seq += 1

    # -- the sources ------------------------------------------------------------------------------

    def _customer(self, person: Person, tally: _Tally, at: int, version: int) -> None:
        rng = self.rng
        assert person.customer_id is not None
        customer_no = _messy_id(rng, person.customer_id)
        suffix, offset = _pick(rng, _OFFSETS)
        phone = person.phones[0] if version == 1 else person.phones[-1]
        value = {
            "customer_no": customer_no,
            "accounts": [_messy_id(rng, a) for a in person.accounts],
            "email": _messy_email(rng, person.emails[0] if version == 1 else person.emails[-1]),
            "mobile": _messy_phone(rng, phone),
            "country": "GB",
            "first_name": person.first_name,
            "last_name": person.last_name,
            "updated_at": _iso_with_offset(at, suffix, offset, millis=False),
            "version": version,
            "consent": self._consent(),
        }
        self._emit(TOPIC_CUSTOMERS, customer_no, _dumps(value), person.index, at)
        tally.add("customer_updated", "core_banking", at)
        tally.facts.append(("customer_updated", at, value["consent"], person.first_name, person.last_name))

    def _consent(self) -> dict[str, bool]:
        extra = self.extra
        return {"email": extra.random() < 0.7, "sms": extra.random() < 0.4, "marketing": extra.random() < 0.5}

    def _transaction(self, person: Person, tally: _Tally, at: int) -> None:
        rng = self.rng
        account = _messy_id(rng, _pick(rng, person.accounts))
        cents = int(rng.lognormvariate(7.6, 1.2)) + 1
        channel = _pick(rng, _CHANNEL_TABLE)
        suffix, offset = _pick(rng, _OFFSETS)
        value = {
            "txn_id": f"TX-{self.seq:010d}",
            "account": account,
            "amount": _cents_str(cents),
            "currency": "GBP",
            "dc": "D" if rng.random() < 0.8 else "C",
            "channel": channel,
            "mcc": _pick(rng, MCCS),
            "booked_at": _iso_with_offset(at, suffix, offset, millis=True),
        }
        self._emit(TOPIC_TRANSACTIONS, account, _dumps(value), person.index, at)
        tally.add("transaction", channel, at, cents)
        tally.facts.append(("transaction", at, cents, value["dc"] == "D", channel, value["mcc"]))

    def _click(
        self, person: Person, tally: _Tally, at: int, cookie: str, action: str, **fields: object
    ) -> None:
        published = _messy_id(self.rng, cookie)
        value = {
            "event_id": str(uuid.UUID(int=self.rng.getrandbits(128), version=4)),
            "cookie": published,
            "user_email": fields.get("user_email"),
            "action": action,
            "url": fields["url"],
            "ts": at,
            "device": self.cookie_device[cookie],
            "error": fields.get("error"),
        }
        self._emit(TOPIC_CLICKSTREAM, published, _dumps(value), person.index, at)
        kind = _WEB_KINDS[action]
        tally.add(kind, "web", at)
        error = fields.get("error") or {}
        tally.facts.append((kind, at, fields["url"], error.get("code"), error.get("message")))

    def _page_view(self, person: Person, tally: _Tally, at: int) -> None:
        cookie = _pick(self.rng, person.cookies)
        self._click(person, tally, at, cookie, "page_view", url=_pick(self.rng, PAGES))

    def _login(self, person: Person, tally: _Tally, at: int, cookie: str, email: str) -> None:
        user_email = _messy_email(self.rng, email)
        self._click(person, tally, at, cookie, "login", url="/login", user_email=user_email)

    def _web_error(self, person: Person, tally: _Tally, at: int) -> None:
        rng = self.rng
        code, message = _pick(rng, WEB_ERRORS)
        cookie = _pick(rng, person.cookies)
        self._click(
            person,
            tally,
            at,
            cookie,
            "error",
            url=_pick(rng, PAGES),
            error={"code": code, "message": message},
        )

    def _email_funnel(self, person: Person, tally: _Tally, at: int, budget: int) -> int:
        """sent, then maybe opened, then maybe clicked, each later and before now; returns events used."""
        rng = self.rng
        recipient = person.emails[0] if rng.random() < 0.85 else _pick(rng, person.emails)
        campaign = _pick(rng, CAMPAIGNS)
        used = 0
        for event in ("sent", "opened", "clicked"):
            at -= at % 1000
            if used == budget or at >= self.now_ms:
                break
            self._email_event(person, tally, at, recipient, campaign, event)
            used += 1
            if rng.random() >= (0.45 if event == "sent" else 0.3):
                break
            at += rng.randrange(60_000, 2 * 86_400_000)
        return used

    def _email_event(
        self, person: Person, tally: _Tally, at: int, recipient: str, campaign: str, event: str
    ) -> None:
        published = _messy_email(self.rng, recipient)
        value = {
            "message_id": f"{self.seq:010x}.{self.rng.getrandbits(32):08x}@mail.example",
            "recipient": published,
            "event": event,
            "campaign": campaign,
            "timestamp": _naive_utc(at),
        }
        self._emit(TOPIC_EMAIL, published, _dumps(value), person.index, at)
        tally.add(f"email_{event}", "email", at)
        tally.facts.append((f"email_{event}", at))

    def _order(self, person: Person, tally: _Tally, at: int, current_phone: str) -> None:
        rng = self.rng
        phone = _messy_phone(rng, current_phone)
        items = []
        total = 0
        for sku, price in rng.sample(self.skus, _pick(rng, (1, 1, 2, 2, 3, 4))):
            qty = _pick(rng, (1, 1, 1, 2, 3))
            items.append({"sku": sku, "qty": qty, "price": _cents_str(price)})
            total += qty * price
        value = {
            "order_id": f"ORD-{self.seq:010d}",
            "phone": phone,
            "store": f"STORE-{rng.randrange(1, 60):03d}",
            "total": "@TOTAL@",
            "items": items,
            "ordered_at": at // 1000,
            "fulfilment": "online" if self.extra.random() < FULFILMENT_ONLINE_SHARE else "in_store",
        }
        # A JSON number with exactly two decimals, written from the integer cents: no float involved.
        body = _dumps(value).replace('"@TOTAL@"', _cents_str(total), 1)
        self._emit(TOPIC_ORDERS, phone, body, person.index, at)
        tally.add("order", "store", at, total)
        bought = tuple((item["sku"], item["qty"]) for item in items)
        tally.facts.append(("order", at, total, value["fulfilment"], bought))

    def _tickets(self, person: Person, tally: _Tally, start: int, span: int) -> None:
        """Zendesk-style ticket webhooks: opened (with sentiment), later solved unless still open now."""
        extra = self.extra
        for _ in range(_pick(extra, (0, 0, 1, 1, 2, 3))):
            self.ticket_seq += 1
            opened = start + int(extra.random() * span)
            opened -= opened % 1000
            ticket = {
                "id": self.ticket_seq,
                "subject": _pick(extra, TICKET_SUBJECTS),
                "tags": ["complaint"] if extra.random() < 0.3 else ["question"],
                "via": {"channel": _pick(extra, TICKET_CHANNELS)},
                "requester": {"email": _messy_email(extra, person.emails[0])},
                "sentiment": _cents_str_signed(extra.randrange(-100, 101)),
            }
            solved = opened + extra.randrange(3_600_000, 10 * 86_400_000)
            solved -= solved % 1000
            for status, at in (("open", opened), ("solved", solved)):
                if at >= self.now_ms:
                    break
                body = {"ticket": {**ticket, "status": status, "updated_at": _iso_z(at)}}
                self._emit(TOPIC_TICKETS, str(ticket["id"]), _dumps(body), person.index, at, extra=True)
                tally.add(f"ticket_{status}", "support", at)
                complaint = ticket["tags"] == ["complaint"]
                tally.facts.append((f"ticket_{status}", at, ticket["id"], ticket["sentiment"], complaint))

    def _holdings(self, person: Person, tally: _Tally, at: int) -> None:
        """Debezium snapshot records (PostgreSQL, schemaless JSON) of the CRM's product_holdings rows."""
        extra = self.extra
        at -= at % 1000
        for product_type, share, has_limit in PRODUCTS:
            if extra.random() >= share:
                continue
            self.holding_seq += 1
            limit = extra.randrange(10, 150) * 10_000 if has_limit else None
            balance = extra.randrange(0, limit + 1) if limit else extra.randrange(0, 5_000_000)
            status = "active" if extra.random() < 0.9 else "closed"
            opened_days = (at // 86_400_000) - extra.randrange(30, 3_000)
            row = {
                "id": self.holding_seq,
                "customer_id": person.customer_id,
                "product_id": f"{product_type[:3].upper()}-{self.holding_seq:07d}",
                "product_type": product_type,
                "status": status,
                "credit_limit": None if limit is None else _cents_str(limit),
                "outstanding_balance": _cents_str(balance),
                "opened_date": opened_days,
            }
            source = {
                "connector": "postgresql", "db": "crm", "schema": "public", "table": "product_holdings",
                "snapshot": "true", "ts_ms": at, "lsn": 1_000_000 + self.holding_seq,
            }  # fmt: skip
            value = {"before": None, "after": row, "source": source, "op": "r", "ts_ms": at}
            key = _dumps({"id": self.holding_seq})
            self._emit(TOPIC_HOLDINGS, key, _dumps(value), person.index, at, extra=True)
            tally.facts.append(("holding", at, row))
