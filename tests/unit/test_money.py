"""Decimal128 to Decimal without pymongo's byte loop gives exactly what pymongo's `to_decimal()` gives."""

from __future__ import annotations

import random

from bson.decimal128 import Decimal128

from profiles.money import decimal_of


def test_decimal_of_equals_pymongos_to_decimal() -> None:
    rng = random.Random(128)
    values = [
        "0",
        "-0",
        "0.000000",
        "12.340000",
        "-1E+3",
        "1E-6176",
        "9.999999999999999999999999999999999E+6144",
    ]
    values += ["NaN", "-NaN", "sNaN", "Infinity", "-Infinity", "1E+6111", "-0E-6176"]
    values += [f"{rng.randint(-(10**34) + 1, 10**34 - 1)}E{rng.randint(-40, 40)}" for _ in range(2_000)]
    for text in values:
        value = Decimal128(text)
        want, got = value.to_decimal(), decimal_of(value)
        assert (str(got), got.as_tuple()) == (str(want), want.as_tuple()), text
    large_form = Decimal128((0x6C10000000000000, 0))  # the 11-prefixed encoding: pymongo reads it as 0
    assert decimal_of(large_form).as_tuple() == large_form.to_decimal().as_tuple()
