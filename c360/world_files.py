"""The demo world's batch files: some of its sources as the files they arrive as, with their ground truth.

Store orders as a point-of-sale dump (Parquet, nested line items, exact decimals, UTC timestamps) and
marketing email events as a Mailchimp-style activity export (CSV): the same records the world publishes
to Kafka, in another format, so the profiles they give are the world's own expected profiles. Two
sources exist only as files and have their own truth, drawn from a generator of their own so that the
world's messages stay byte-identical: monthly credit bureau files (score, risk tier, bureau id, as-of
date; pipe-delimited, gzip) for bank customers, and a loyalty programme's member export (JSON Lines,
gzip) that knows members by card number and email. Pure: the same world gives the same bytes (gzip
headers carry no time; Parquet's metadata names the pyarrow version that wrote it).
"""

from __future__ import annotations

import csv
import gzip
import io
import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from random import Random
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from c360.world import TOPIC_EMAIL, TOPIC_ORDERS, World

# The world of the files in samples/ (`c360 world files samples` writes them again).
SAMPLE_WORLD: dict[str, Any] = {"people": 80, "events_per_person": 15.0, "seed": 19}
BUREAU_MONTHS = (date(2026, 10, 1), date(2026, 11, 1))
BUREAU_SHARE = 0.9  # bank customers the bureau has a file on
LOYALTY_SHARE = 0.3
LOYALTY_TIERS = (("bronze", 0), ("silver", 2_000), ("gold", 10_000))
RISK_TIERS = (("A", 881), ("B", 721), ("C", 561), ("D", 420), ("E", 0))
MAILCHIMP_ACTIONS = {"sent": "sent", "opened": "open", "clicked": "click"}
PARQUET_ROW_GROUP = 500
_MONEY = pa.decimal128(12, 2)
_POS_SCHEMA = pa.schema(
    [
        ("order_id", pa.string()),
        ("phone", pa.string()),
        ("store", pa.string()),
        ("total", _MONEY),
        ("items", pa.list_(pa.struct([("sku", pa.string()), ("qty", pa.int32()), ("price", _MONEY)]))),
        ("ordered_at", pa.timestamp("s", tz="UTC")),
        ("fulfilment", pa.string()),
    ]
)


@dataclass(frozen=True)
class BureauRecord:
    person: int
    customer_ref: str
    bureau_id: str
    score: int
    risk_tier: str
    as_of: date


@dataclass(frozen=True)
class LoyaltyMember:
    person: int
    member_no: str
    email: str  # as the programme holds it (messy); the person's first address
    tier: str
    points: int
    member_since: date


@dataclass(frozen=True)
class WorldFiles:
    """The files' rows, and what each person's profile must show of the sources that are files only."""

    bureau: dict[date, list[BureauRecord]]
    loyalty: list[LoyaltyMember]
    exported_at: datetime  # the loyalty export's time

    def latest_bureau(self) -> dict[int, BureauRecord]:
        """Per person, the record of the latest month: what the profile must show after every file."""
        latest: dict[int, BureauRecord] = {}
        for month in sorted(self.bureau):
            latest.update({r.person: r for r in self.bureau[month]})
        return latest

    def loyalty_ids(self) -> dict[int, set[tuple[str, str]]]:
        """The identifiers the loyalty export adds to each member's profile."""
        return {m.person: {("loyalty_id", m.member_no)} for m in self.loyalty}


def world_files(world: World) -> WorldFiles:
    """The bureau and loyalty truth of the world's bank customers (their own generator, seeded by it)."""
    rng = Random(world.seed * 104_729 + 19)
    customers = [p for p in world.people if p.customer_id is not None]
    bureau: dict[date, list[BureauRecord]] = {month: [] for month in BUREAU_MONTHS}
    loyalty: list[LoyaltyMember] = []
    for person in customers:
        assert person.customer_id is not None
        if rng.random() < BUREAU_SHARE:
            bureau_id = f"BUR-{rng.randrange(10**9):09d}"
            score = rng.randrange(380, 990)
            for month in BUREAU_MONTHS:
                score = min(999, max(300, score + rng.randrange(-40, 41)))
                record = BureauRecord(person.index, person.customer_id, bureau_id, score, _tier(score), month)
                bureau[month].append(record)
        if rng.random() < LOYALTY_SHARE:
            points = int(rng.expovariate(1 / 4_000))
            since = world.now.date() - timedelta(days=rng.randrange(30, 2_000))
            tier = [name for name, floor in LOYALTY_TIERS if points >= floor][-1]
            email = person.emails[0] if rng.random() < 0.7 else person.emails[0].upper()
            member_no = f"LC-{rng.randrange(10**8):08d}"
            loyalty.append(LoyaltyMember(person.index, member_no, email, tier, points, since))
    exported = datetime.combine(world.now.date() - timedelta(days=1), datetime.min.time(), UTC)
    return WorldFiles(bureau, loyalty, exported + timedelta(hours=23))


def sample_files(world: World) -> dict[str, bytes]:
    """Every sample file by name, as `c360 world files` writes them (see samples/README.md)."""
    truth = world_files(world)
    day = world.now.date().isoformat()
    files = {
        f"pos_orders_{day}.parquet": pos_dump(world),
        f"mailchimp_activity_{day}.csv": mailchimp_export(world),
        f"loyalty_members_{day}.jsonl.gz": _gzip(loyalty_export(truth)),
    }
    for month, records in truth.bureau.items():
        files[f"bureau_{month.isoformat()}.csv.gz"] = _gzip(bureau_file(records))
    return files


def pos_dump(world: World) -> bytes:
    """Every store order the world publishes, as a POS system's Parquet dump."""
    rows = []
    for m in world.messages:
        if m.topic != TOPIC_ORDERS:
            continue
        order = json.loads(m.value, parse_float=Decimal)
        items = [{"sku": i["sku"], "qty": i["qty"], "price": Decimal(i["price"])} for i in order["items"]]
        at = datetime.fromtimestamp(order["ordered_at"], UTC)
        rows.append({**order, "items": items, "ordered_at": at})
    table = pa.Table.from_pylist(rows, schema=_POS_SCHEMA)
    sink = io.BytesIO()
    pq.write_table(table, sink, row_group_size=PARQUET_ROW_GROUP)
    return sink.getvalue()


def mailchimp_export(world: World) -> bytes:
    """Every marketing email event the world publishes, as a Mailchimp-style activity export."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["Email Address", "Campaign", "Action", "Timestamp", "Message Id"])
    for m in world.messages:
        if m.topic == TOPIC_EMAIL:
            e = json.loads(m.value)
            writer.writerow(
                [
                    e["recipient"],
                    e["campaign"],
                    MAILCHIMP_ACTIONS[e["event"]],
                    e["timestamp"],
                    e["message_id"],
                ]
            )
    return out.getvalue().encode()


def bureau_file(records: list[BureauRecord]) -> bytes:
    lines = ["customer_ref|bureau_id|score|risk_tier|as_of"]
    lines += [
        f"{r.customer_ref}|{r.bureau_id}|{r.score}|{r.risk_tier}|{r.as_of.isoformat()}" for r in records
    ]
    return ("\n".join(lines) + "\n").encode()


def loyalty_export(truth: WorldFiles) -> bytes:
    exported = truth.exported_at.isoformat().replace("+00:00", "Z")
    lines = [
        json.dumps(
            {
                "member_no": m.member_no,
                "email": m.email,
                "tier": m.tier,
                "points": m.points,
                "member_since": m.member_since.isoformat(),
                "exported_at": exported,
            }
        )
        for m in truth.loyalty
    ]
    return ("\n".join(lines) + "\n").encode()


def _tier(score: int) -> str:
    return next(tier for tier, floor in RISK_TIERS if score >= floor)


def _gzip(data: bytes) -> bytes:
    return gzip.compress(data, mtime=0)
