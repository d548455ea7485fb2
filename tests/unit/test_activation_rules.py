"""Segment rules without a database: parsing refuses what it cannot read, the real-time engine computes
each fact from a hand-built profile document, and the next window boundary is when the answer flips."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from bson.decimal128 import Decimal128
from pydantic import TypeAdapter, ValidationError

from activation.evaluate import next_boundary, verdict
from activation.rules import Rule, parse_condition
from lakehouse.segments import Segment

RULE: TypeAdapter[Rule] = TypeAdapter(Rule)
NOW = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)
DOC = {
    "daily": {
        "2026-11-20": {"n": {"transaction": 1}, "tx": {"vol": Decimal128("10.50")}},
        "2026-10-22": {"n": {"transaction": 2, "login": 1}, "tx": {"vol": Decimal128("100.25")}},
        "2026-10-21": {"n": {"transaction": 5}, "tx": {"vol": Decimal128("1000")}},
    },
    "last": {"login": datetime(2026, 10, 22, 9, 30, tzinfo=UTC)},
    "stats": {"order": {"count": 2, "amount": Decimal("250.10")}},
    "consent": {"marketing": {"at": NOW, "value": True, "source": "crm"}},
    "identifiers": {"h1": {"type": "email", "value": "ann@x.com"}},
}


@pytest.mark.parametrize(
    ("text", "member"),
    [
        ("count(transaction, 30d) == 3", True),  # 20 Nov and 22 Oct; 21 Oct is the 31st day back
        ("count(transaction, 31d) == 8", True),
        ("volume(30d) == 110.75", True),
        ("days_since(login) == 29", True),  # 29 days and 5.5 hours
        ("days_since(order) >= 0", False),  # never: null, so false
        ("lifetime_count(order) >= 2", True),
        ("lifetime_amount(order) > 250.10", False),
        ("consent(marketing) == true", True),
        ("consent(sms) != true", False),  # never stated: null, false either way
        ("has_identifier(email) == true", True),
        ("has_identifier(phone) == true", False),
    ],
)
def test_each_fact_on_a_hand_built_profile(text: str, member: bool) -> None:
    assert verdict(RULE.validate_python(text), DOC, NOW).member is member


def test_combinators_and_null_under_not() -> None:
    rule = RULE.validate_python({"all": ["lifetime_count(order) >= 1", {"not": "days_since(order) <= 14"}]})
    result = verdict(rule, DOC, NOW)
    assert result.member
    assert result.decided_by() == {"lifetime_count(order)": 2, "days_since(order)": None}
    assert not verdict(
        RULE.validate_python({"any": ["count(login, 7d) >= 1", "volume(1d) > 11"]}), DOC, NOW
    ).member


def test_next_boundary_is_when_a_bucket_leaves_the_window() -> None:
    rule = RULE.validate_python("count(transaction, 30d) >= 3")
    boundary = next_boundary(rule, DOC, NOW)
    # 22 Oct leaves the 30 days ending today at the start of 21 Nov: the answer flips then.
    assert boundary == datetime(2026, 11, 21, tzinfo=UTC)
    assert verdict(rule, DOC, boundary - timedelta(microseconds=1)).member
    assert not verdict(rule, DOC, boundary).member
    since = RULE.validate_python("days_since(login) > 30")
    flip = next_boundary(since, DOC, NOW)
    assert flip == datetime(2026, 11, 21, 9, 30, tzinfo=UTC)  # login + 30 days: still 30, not yet 31
    assert not verdict(since, DOC, flip).member and verdict(since, DOC, flip + timedelta(days=1)).member
    assert next_boundary(RULE.validate_python("lifetime_count(order) >= 1"), DOC, NOW) is None


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("count(transaction) >= 1", "takes 2 argument"),
        ("count(transaction, 91d) >= 1", "1d to 90d"),
        ("spend(30d) > 1", "unknown fact"),
        ("consent(marketing) > true", "compare it with =="),
        ("count(transaction, 30d) >= 'x'", "is a number"),
        ("count(transaction, 30d) >= 1; DROP TABLE x", "not an integer"),
        ("count(tran'saction, 30d) >= 1", "not a name"),
        ("count(transaction, 30d)", "expected"),
    ],
)
def test_bad_conditions_say_why(text: str, complaint: str) -> None:
    with pytest.raises(ValueError, match=complaint):
        parse_condition(text)


def test_a_segment_gives_one_definition_and_says_whether_it_is_real_time() -> None:
    assert Segment(name="r", rule="count(order, 30d) >= 1").realtime
    assert not Segment(name="w", where="true").realtime
    with pytest.raises(ValidationError, match="exactly one of"):
        Segment(name="both", where="true", rule="count(order, 30d) >= 1")
    with pytest.raises(ValidationError):
        Segment(name="bad", rule={"all": []})
