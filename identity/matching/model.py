"""The Fellegi-Sunter model, pure: how much each comparison level says for or against a match.

A pair's match weight is the prior log2-odds of a match among compared pairs plus, per field,
log2(m/u) of its level (m: the level's probability among matches, u: among non-matches). Exact agreement
on a term-frequency field is re-weighted by the value's own frequency: two records agreeing on "smith"
say less than two agreeing on "zabrowski". Serialises to JSON so a model estimated once is reused.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from identity.matching.comparisons import compare
from identity.matching.schema import FieldSpec, MatchSchema, Record


@dataclass
class MatchModel:
    schema: MatchSchema
    prior: float  # probability that a compared (blocked) pair is a match
    m: list[list[float]]  # per field, per level
    u: list[list[float]]
    tf: dict[str, dict[str, float]] = field(default_factory=dict)  # field -> value -> frequency
    _logs: list[list[float]] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        names = [f.name for f in self.schema.fields]
        self._guard = [(names.index(n), len(self.m[names.index(n)]) - 1) for n in self.schema.identity_fields]
        self._veto = [(names.index(n), level) for n, level in self.schema.vetoes]
        self._logs = [
            [math.log2(m / u) for m, u in zip(ms, us, strict=True)]
            for ms, us in zip(self.m, self.u, strict=True)
        ]
        self._prior = math.log2(self.prior / (1 - self.prior))

    def weight(self, a: Record, b: Record) -> tuple[float, tuple[int | None, ...]]:
        """Match weight (log2 odds) of two records, and their comparison vector (the evidence)."""
        vector = compare(a, b, self.schema)
        total = self._prior
        for spec, logs, us, level in zip(self.schema.fields, self._logs, self.u, vector, strict=True):
            if level is None:
                continue
            total += logs[level]
            if level == 0 and spec.term_frequency:
                total += self._tf_adjustment(spec, us[0], a.get(spec.name))
        return total, vector

    def plausible(self, vector: tuple[int | None, ...]) -> bool:
        """Could the pair be one person at all: agreeing, at least partly, on an identity field (if the
        schema names any), and not disagreeing on a veto field at its veto level?"""
        if any((vector[f] or 0) >= level for f, level in self._veto):
            return False
        return not self._guard or any(vector[f] is not None and vector[f] < last for f, last in self._guard)

    def _tf_adjustment(self, spec: FieldSpec, u_exact: float, value: str | None) -> float:
        table = self.tf.get(spec.name, {})
        frequency = table.get(value or "", min(table.values(), default=u_exact))
        return math.log2(u_exact / frequency)

    def to_json(self) -> dict[str, Any]:
        return {"prior": self.prior, "m": self.m, "u": self.u, "tf": self.tf}

    @classmethod
    def from_json(cls, schema: MatchSchema, data: dict[str, Any]) -> MatchModel:
        return cls(schema, data["prior"], data["m"], data["u"], data.get("tf", {}))


def probability(weight: float) -> float:
    return 1 / (1 + 2 ** (-weight))
