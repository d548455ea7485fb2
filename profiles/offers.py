"""Next-best-offer: a configurable rule set, first matching rule wins; pure.

A rule names an offer, a reason an agent can read out, and conditions on the profile's facts
(see `offer_facts` in profiles/view.py). The default file (profiles/offers.yaml) holds the
banking seed's rules; `api.offers_file` points at another.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field

DEFAULT_OFFERS_FILE = Path(__file__).with_name("offers.yaml")
Op = Literal["gt", "gte", "lt", "lte", "eq", "ne", "has", "lacks"]


class Condition(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    fact: str
    op: Op
    value: Any

    def holds(self, facts: dict[str, Any]) -> bool:
        actual = facts.get(self.fact)
        if self.op in ("has", "lacks"):
            return (self.value in (actual or ())) == (self.op == "has")
        if self.op in ("eq", "ne"):
            return (actual == self.value) == (self.op == "eq")
        if actual is None:  # unknown never passes a comparison: no offer on missing data
            return False
        limit = Decimal(str(self.value))
        number = Decimal(str(actual))
        return {"gt": number > limit, "gte": number >= limit, "lt": number < limit, "lte": number <= limit}[
            self.op
        ]


class OfferRule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    offer: str
    reason: str
    when: list[Condition] = Field(min_length=1)


class OfferRules(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    rules: list[OfferRule]

    def choose(self, facts: dict[str, Any]) -> OfferRule | None:
        return next((r for r in self.rules if all(c.holds(facts) for c in r.when)), None)


def load_offer_rules(path: Path | None = None) -> OfferRules:
    return OfferRules.model_validate(yaml.safe_load((path or DEFAULT_OFFERS_FILE).read_text()))
