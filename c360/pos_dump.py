"""A synthetic point-of-sale receipts export (`;`-separated CSV) of any size, with its ground truth.

For what the demo world is too small for: the import benchmark's 1 GB file and the killed-import test.
One receipt per row, paid by loyalty card holders (`card_no`), its line items as a JSON array in a
quoted cell (about 600 bytes a row); the truth is each card's number of receipts and their total in
pence, counted while the rows are written (never read back from them). Pure Python and seeded: the same
arguments give the same bytes.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from random import Random

HEADER = (
    "receipt_no;store;store_name;till;cashier;sold_at;card_no;total;currency;item_count;lines;payment;"
    "promotions\n"
)
STORES = (
    "Leeds Trinity", "Manchester Arndale", "Bristol Cabot Circus", "Glasgow Buchanan Galleries",
    "Cardiff St David's", "Birmingham Bullring", "London Westfield Stratford", "Belfast Victoria Square",
    "Edinburgh St James Quarter", "Newcastle Eldon Square", "Sheffield Meadowhall", "Norwich Chapelfield",
)  # fmt: skip
PAYMENTS = ("VISA ****{:04d}", "MASTERCARD ****{:04d}", "AMEX ****{:04d}", "cash", "gift card")
PRODUCTS = (
    "Organic bananas 1kg", "Semi-skimmed milk 2L", "Sourdough loaf", "Free-range eggs x12", "Cheddar 400g",
    "Basmati rice 1kg", "Olive oil 500ml", "Ground coffee 227g", "Dark chocolate 100g", "Tomatoes 6 pack",
    "Kitchen roll x4", "Laundry liquid 1.3L", "Toothpaste 75ml", "Orange juice 1L", "Greek yoghurt 500g",
    "Chicken thighs 1kg", "Salmon fillets x2", "Penne pasta 500g", "Baby spinach 200g", "Red wine 75cl",
)  # fmt: skip
PROMOTIONS = ("", "", "", "WINTER10", "BOGOF-SNACKS", "LOYALTY-DOUBLE,WINTER10", "STAFF15")
START = datetime(2026, 10, 1, tzinfo=UTC)


@dataclass
class PosTruth:
    """Per card: receipts and their total in pence."""

    receipts: dict[str, int] = field(default_factory=dict)
    pence: dict[str, int] = field(default_factory=dict)
    rows: int = 0


def receipt_lines(cards: int, seed: int, truth: PosTruth) -> Iterator[str]:
    """Receipts without end, counted into `truth` as they are made; the caller stops when it has enough."""
    rng = Random(seed)
    start = int(START.timestamp())
    n = 0
    while True:
        n += 1
        card = f"LC-{rng.randrange(cards):08d}"
        store = rng.randrange(len(STORES))
        bits = rng.getrandbits(64)
        items = [(1 + (bits >> (8 * k)) % 4_999, 1 + (bits >> (8 * k + 5)) % 3) for k in range(1 + bits % 8)]
        pence = sum(qty * (99 + (sku * 37) % 4_900) for sku, qty in items)
        sold = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(start + n * 7 + (bits >> 60)))
        truth.receipts[card] = truth.receipts.get(card, 0) + 1
        truth.pence[card] = truth.pence.get(card, 0) + pence
        truth.rows += 1
        yield (
            f"R{n:011d};STORE-{store:03d};{STORES[store]};{1 + bits % 12};C{(bits >> 20) % 900:04d};{sold};"
            f"{card};{pence // 100}.{pence % 100:02d};GBP;{sum(q for _, q in items)};"
            f'"[{",".join(_line(sku, qty) for sku, qty in items)}]";'
            f"{PAYMENTS[(bits >> 30) % len(PAYMENTS)].format((bits >> 40) % 10_000)};"
            f"{PROMOTIONS[(bits >> 50) % len(PROMOTIONS)]}\n"
        )


def _line(sku: int, qty: int) -> str:
    """One line item as JSON, its quotes doubled for the quoted CSV cell."""
    price = 99 + (sku * 37) % 4_900
    return (
        f'{{""sku"":""SKU-{sku:05d}"",""name"":""{PRODUCTS[sku % len(PRODUCTS)]}"",""qty"":{qty},'
        f'""unit_price"":""{price // 100}.{price % 100:02d}"",""vat_rate"":""{("0.00", "0.20")[sku % 2]}""}}'
    )


def write_receipts(
    path: Path, *, cards: int, seed: int, rows: int | None = None, min_bytes: int = 0
) -> PosTruth:
    """Write `rows` receipts, or as many as reach `min_bytes`; returns their truth."""
    truth = PosTruth()
    written = len(HEADER)
    with path.open("w", encoding="utf-8", newline="") as out:
        out.write(HEADER)
        for line in receipt_lines(cards, seed, truth):
            out.write(line)
            written += len(line)
            if (rows is not None and truth.rows >= rows) or (rows is None and written >= min_bytes):
                break
    return truth
