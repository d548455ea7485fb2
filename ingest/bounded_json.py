"""Untrusted JSON text to Python values, every cost bounded before it is paid.

Every record and webhook body is read by this parser, so one hostile record can neither stop nor stall
ingest. Before parsing: the size (the caller's `ingest.max_message_bytes`) and the number of values
(`MAX_VALUES`, counted as the bytes `,` `:` `[` `{`, an upper bound found at memchr speed): parsing costs
per value, and a 1 MB record of 250,000 tiny numbers takes a tenth of a second. While parsing: numbers
whose text is too long or whose exponent is beyond Decimal128's (`1e1000000` is 9 bytes, but turning it
into an int costs over a minute of CPU). After: nesting beyond `MAX_DEPTH` (recursive code further on
stays far from Python's recursion limit), and lone UTF-16 surrogates (`"\\ud800"`), which are not
Unicode text and which MongoDB cannot store. Fractional numbers become `Decimal` (money is never a
float); `NaN` and `Infinity` are not JSON.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from decimal import Decimal
from typing import Any

MAX_DEPTH = 64
# Measured on these machines (docs/BENCHMARKS.md, "Hostile input"): 10,000 values of the costliest kinds
# (objects, decimals, Extended JSON wrappers) parse and map in about 10-20 ms.
MAX_VALUES = 10_000
# A number token longer than this is refused unread: 2**64 has 20 digits, Decimal128 holds 34.
MAX_NUMBER_CHARS = 64
# Decimal128's adjusted-exponent range; beyond it a number cannot be stored anyway.
MAX_EXPONENT = 6144

_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89abcdefABCDEF]")
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


class JsonRefused(ValueError):
    """The text is not JSON c360 reads; `message` says why, for the dead letter."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _int(text: str) -> int:
    if len(text) > MAX_NUMBER_CHARS:
        raise JsonRefused(f"a number of {len(text)} characters exceeds the limit of {MAX_NUMBER_CHARS}")
    return int(text)


def _decimal(text: str) -> Decimal:
    if len(text) > MAX_NUMBER_CHARS:
        raise JsonRefused(f"a number of {len(text)} characters exceeds the limit of {MAX_NUMBER_CHARS}")
    value = Decimal(text)
    if abs(value.adjusted()) > MAX_EXPONENT:
        raise JsonRefused(f"the number {text[:40]} is beyond Decimal128's exponent range")
    return value


def _constant(name: str) -> None:
    raise JsonRefused(f"{name} is not valid JSON")


def decoder(object_hook: Callable[[dict[str, Any]], Any] | None = None) -> Callable[[str], Any]:
    """A bounded `loads`, optionally with an object hook (MongoDB Extended JSON); raises JsonRefused."""
    scanner = json.JSONDecoder(
        object_hook=object_hook, parse_float=_decimal, parse_int=_int, parse_constant=_constant
    )

    def loads(text: str) -> Any:
        try:
            value = scanner.decode(text)
        except json.JSONDecodeError as exc:
            raise JsonRefused(f"not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
        except RecursionError:
            raise JsonRefused(f"JSON nested more than {MAX_DEPTH} levels deep") from None
        _check(value, text)
        return value

    return loads


def _check(value: Any, text: str) -> None:
    """Depth and lone surrogates, walked only when the text could hold either (most records cannot)."""
    if text.count("[") + text.count("{") > MAX_DEPTH:
        _check_depth(value)
    if _SURROGATE_ESCAPE.search(text) is not None:
        _check_surrogates(value)


def _check_depth(value: Any) -> None:
    """Containers only: scalars are not pushed, so the walk costs a fraction of the parse."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if depth >= MAX_DEPTH:
            raise JsonRefused(f"JSON nested more than {MAX_DEPTH} levels deep")
        for inner in item.values() if type(item) is dict else item:
            if type(inner) is dict or type(inner) is list:
                stack.append((inner, depth + 1))


def _check_surrogates(value: Any) -> None:
    """`\\ud83d\\ude00` is one character once decoded; a surrogate left in a string stood alone."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            for key, inner in item.items():
                if isinstance(key, str) and _LONE_SURROGATE.search(key):
                    raise JsonRefused(f"a name holds a lone surrogate (not Unicode text): {key[:40]!r}")
                stack.append(inner)
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, str) and _LONE_SURROGATE.search(item):
            raise JsonRefused(f"a string holds a lone surrogate (not Unicode text): {item[:40]!r}")


def text_of(raw: bytes, max_bytes: int) -> str:
    """The bytes as text, refused beyond `max_bytes` or `MAX_VALUES` (before decoding) or when not UTF-8.
    JSON held in strings (Debezium's MongoDB documents) is counted here too: its `,` and `:` are bytes of
    the record."""
    if len(raw) > max_bytes:
        raise JsonRefused(f"message of {len(raw)} bytes exceeds the limit of {max_bytes}")
    values = raw.count(b",") + raw.count(b":") + raw.count(b"[") + raw.count(b"{")
    if values > MAX_VALUES:
        raise JsonRefused(f"a message of up to {values} values exceeds the limit of {MAX_VALUES}")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise JsonRefused(f"not UTF-8 text (byte {exc.start})") from None


loads = decoder()
