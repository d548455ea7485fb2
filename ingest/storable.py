"""What an event may carry into MongoDB: values it stores exactly and the API serves back as JSON.

Attributes and CDC rows hold whatever a source sent, so they are checked when the canonical event is
built, on every path (Kafka, Debezium, webhooks): a field name MongoDB would read as an operator or a
path (`$set`, `a.b`) at any depth, an integer beyond 64 bits, a decimal Decimal128 cannot hold exactly,
a lone surrogate, nesting deeper than `MAX_DEPTH`, or a type BSON or JSON cannot carry, each makes the
record an `invalid_event` dead letter naming the field, instead of an error in the writer.
"""

from __future__ import annotations

import decimal
import re
from datetime import datetime
from decimal import Decimal
from typing import Any

MAX_DEPTH = 32
_INT64 = range(-(2**63), 2**63)
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
# bson's Decimal128 context, traps included (bson.decimal128._CTX_OPTIONS): a number Decimal128() would
# refuse raises here too, at a fiftieth of its cost.
_DECIMAL128 = decimal.Context(
    prec=34,
    rounding=decimal.ROUND_HALF_EVEN,
    Emin=-6143,
    Emax=6144,
    clamp=1,
    traps=[decimal.InvalidOperation, decimal.Overflow, decimal.Inexact],
)


class NotStorable(ValueError):
    """`path` is where in the value (dotted, list positions as numbers); the message says what is wrong."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}" if path else message)
        self.path = path
        self.message = message


def check_storable(value: Any) -> None:
    """Raise NotStorable at the first part of `value` MongoDB could not store exactly or would misread."""
    # (value, its container's path, its key there): a path is only built for containers and errors.
    stack: list[tuple[Any, tuple[str, ...], str | None]] = [(value, (), None)]
    while stack:
        item, parent, key = stack.pop()
        if type(item) is dict or type(item) is list or type(item) is tuple:
            path = parent if key is None else (*parent, key)
            _depth(path)
            if type(item) is dict:
                stack.extend((inner, path, _name(name, path)) for name, inner in item.items())
            else:
                stack.extend((inner, path, str(n)) for n, inner in enumerate(item))
        else:
            problem = _scalar_problem(item)
            if problem is not None:
                raise NotStorable(".".join(parent if key is None else (*parent, key)), problem)


def exact_decimal128(value: Decimal | str) -> Decimal:
    """The number as Decimal128 holds it; ArithmeticError when it cannot hold it exactly (or at all)."""
    return _DECIMAL128.create_decimal(value)


def _depth(path: tuple[str, ...]) -> None:
    if len(path) >= MAX_DEPTH:
        raise NotStorable(".".join(path), f"nested more than {MAX_DEPTH} levels deep")


def _name(key: Any, path: tuple[str, ...]) -> str:
    where = ".".join(path)
    if not isinstance(key, str):
        raise NotStorable(where, f"field name {key!r:.40} is not text")
    if _LONE_SURROGATE.search(key):
        raise NotStorable(where, f"field name {key[:40]!r} holds a lone surrogate (not Unicode text)")
    if key.startswith("$") or "." in key or "\x00" in key:
        raise NotStorable(
            ".".join((*path, key[:100])), "field names may not start with $ or hold a dot or a NUL character"
        )
    return key


def _scalar_problem(item: Any) -> str | None:
    if item is None or isinstance(item, bool | float):
        return None
    if isinstance(item, str):
        return None if item.isascii() or not _LONE_SURROGATE.search(item) else "a lone surrogate"
    if isinstance(item, int):
        return None if item in _INT64 else "an integer beyond 64 bits"
    if isinstance(item, Decimal):
        try:
            exact_decimal128(item)
        except ArithmeticError:
            return f"{str(item)[:40]} does not fit a Decimal128 exactly (34 digits)"
        return None
    if isinstance(item, datetime):
        return None if item.tzinfo is not None else "a time without a UTC offset"
    return f"a value of type {type(item).__name__} cannot be stored"
