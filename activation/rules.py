"""A segment's rule: conditions on a profile's facts, written once in segments.yaml and run by two engines,
in real time on one stored profile (activation/evaluate.py) and in the lake over profiles_current
(activation/rules_sql.py). Pure and validated at load, so a typo fails there, not at 3 a.m.

    rule:
      all:                                   # or any: [...]; not: <condition or rule>
        - count(transaction, 30d) >= 3       # events of a type in the 30 calendar days ending today (UTC)
        - volume(90d) > 1000.00              # transaction volume (Decimal) over the 90 days ending today
        - not: days_since(login) <= 14       # whole days since the last login; never logged in: null
        - lifetime_count(order) >= 1         # every order ever (stats)
        - lifetime_amount(order) > 250       # every order's amount ever
        - consent(marketing) == true         # the latest statement; never stated: null
        - has_identifier(email) == true

A condition is `fact op literal`; op is one of == != < <= > >=; a literal is an integer, a decimal, true,
false or a 'quoted string'. A fact that is null (no login ever) makes its condition false, so `not`
of it is true: `not: days_since(login) <= 14` holds for people who never logged in. Windows are whole
calendar days of at most 90 (the profile keeps day buckets for 90 days: profiles/activity.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

MAX_WINDOW_DAYS = 90
OPERATORS = ("==", "!=", "<=", ">=", "<", ">")
Literal_ = int | Decimal | bool | str

_NAME = r"[A-Za-z][A-Za-z0-9_]{0,63}"
_CONDITION = re.compile(
    rf"^\s*(?P<fact>{_NAME})\((?P<args>[^()]*)\)\s*(?P<op>==|!=|<=|>=|<|>)\s*(?P<value>.+?)\s*$"
)
_WINDOW = re.compile(r"^(?P<days>[0-9]{1,3})d$")
_INTEGER = re.compile(r"^-?[0-9]{1,18}$")
_DECIMAL = re.compile(r"^-?[0-9]{1,20}\.[0-9]{1,6}$")
_STRING = re.compile(r"^'(?P<text>[^'\\]{0,200})'$")

# fact name -> the kinds of its arguments, and the kind of value it yields
FACTS: dict[str, tuple[tuple[str, ...], str]] = {
    "count": (("name", "window"), "number"),
    "volume": (("window",), "number"),
    "days_since": (("name",), "number"),
    "lifetime_count": (("name",), "number"),
    "lifetime_amount": (("name",), "number"),
    "consent": (("name",), "bool"),
    "has_identifier": (("name",), "bool"),
}
_NAME_ONLY = re.compile(rf"^{_NAME}$")


@dataclass(frozen=True)
class Fact:
    """One named value of a profile: `count(transaction, 30d)` is Fact("count", "transaction", 30)."""

    kind: str
    name: str | None = None
    days: int | None = None

    def __str__(self) -> str:
        args = [a for a in (self.name, None if self.days is None else f"{self.days}d") if a is not None]
        return f"{self.kind}({', '.join(args)})"


@dataclass(frozen=True)
class Condition:
    fact: Fact
    op: str
    value: Literal_

    def __str__(self) -> str:
        value = self.value
        text = (
            str(value).lower()
            if isinstance(value, bool)
            else f"'{value}'"
            if isinstance(value, str)
            else value
        )
        return f"{self.fact} {self.op} {text}"


def parse_condition(text: Any) -> Condition:
    """`count(transaction, 30d) >= 3` as a Condition; ValueError saying what is wrong otherwise."""
    if isinstance(text, Condition):
        return text
    if not isinstance(text, str) or len(text) > 300:
        raise ValueError("a condition is a line such as `count(transaction, 30d) >= 3`")
    match = _CONDITION.match(text)
    if match is None:
        raise ValueError(f"`{text}`: expected `fact(arguments) op value`, op one of {' '.join(OPERATORS)}")
    kind = match["fact"]
    if kind not in FACTS:
        raise ValueError(f"`{text}`: unknown fact {kind}; known: {', '.join(FACTS)}")
    kinds, yields = FACTS[kind]
    args = [a.strip() for a in match["args"].split(",")] if match["args"].strip() else []
    if len(args) != len(kinds):
        raise ValueError(f"`{text}`: {kind} takes {len(kinds)} argument(s): {', '.join(kinds)}")
    name, days = None, None
    for arg, arg_kind in zip(args, kinds, strict=True):
        if arg_kind == "window":
            window = _WINDOW.match(arg)
            if window is None or not 1 <= int(window["days"]) <= MAX_WINDOW_DAYS:
                raise ValueError(f"`{text}`: a window is 1d to {MAX_WINDOW_DAYS}d, not `{arg}`")
            days = int(window["days"])
        elif _NAME_ONLY.match(arg) is None:
            raise ValueError(f"`{text}`: `{arg}` is not a name")
        else:
            name = arg
    value = _literal(match["value"], text)
    if yields == "bool" and (not isinstance(value, bool) or match["op"] not in ("==", "!=")):
        raise ValueError(f"`{text}`: {kind} is true or false; compare it with == or != true/false")
    if yields == "number" and isinstance(value, bool | str):
        raise ValueError(f"`{text}`: {kind} is a number; compare it with a number")
    return Condition(Fact(kind, name, days), match["op"], value)


def _literal(raw: str, text: str) -> Literal_:
    if raw in ("true", "false"):
        return raw == "true"
    if _INTEGER.match(raw):
        return int(raw)
    if _DECIMAL.match(raw):
        return Decimal(raw)
    string = _STRING.match(raw)
    if string is not None:
        return string["text"]
    raise ValueError(f"`{text}`: `{raw}` is not an integer, a decimal, true, false or a 'quoted string'")


ConditionField = Annotated[Condition, BeforeValidator(parse_condition)]


class All(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    all: list[Node] = Field(min_length=1, max_length=50)


class Any_(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    any: list[Node] = Field(min_length=1, max_length=50)


class Not(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    not_: Node = Field(alias="not")


Node = ConditionField | All | Any_ | Not
All.model_rebuild()
Any_.model_rebuild()
Not.model_rebuild()
Rule = All | Any_ | Not | ConditionField


def conditions(node: Node) -> list[Condition]:
    """Every condition of a rule, in the order written."""
    if isinstance(node, Condition):
        return [node]
    if isinstance(node, Not):
        return conditions(node.not_)
    children = node.all if isinstance(node, All) else node.any
    return [c for child in children for c in conditions(child)]
