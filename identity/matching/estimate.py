"""Estimating the Fellegi-Sunter model from unlabelled records, pure.

u (level frequencies among non-matches) from random pairs, which are almost all non-matches; m by
expectation-maximisation, one session per training rule as Splink does: pairs that agree on the rule's
fields, with those fields left out, so that each field's m comes from sessions that did not select on
it (a session blocked on the address would learn "same household" as the match class). Finally the
prior among the pairs streaming matching compares (all blocking rules), with m and u held; term
frequencies from the records. No labels are used.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterator, Sequence
from random import Random

from identity.matching.blocking import blocking_keys
from identity.matching.comparisons import compare, level_count
from identity.matching.model import MatchModel
from identity.matching.schema import MatchSchema, Record

MAX_TRAINING_BLOCK = 50  # larger blocks (common surname and birth year) add pairs, not information


def estimate(
    records: Sequence[Record],
    schema: MatchSchema,
    *,
    random_pairs: int = 100_000,
    iterations: int = 40,
    seed: int = 0,
) -> MatchModel:
    levels = [level_count(f.kind) for f in schema.fields]
    u = _estimate_u(records, schema, levels, random_pairs, Random(seed))
    names = [f.name for f in schema.fields]
    estimates: list[list[list[float]]] = [[] for _ in names]
    for rule in schema.training or schema.blocking:
        held_out = {names.index(name) for name in rule}
        patterns = Counter(
            tuple(
                None if f in held_out else level
                for f, level in enumerate(compare(records[i], records[j], schema))
            )
            for i, j in candidate_pairs(records, schema, (rule,))
        )
        _, m = _expectation_maximisation(patterns, u, levels, iterations, fixed_prior=None)
        for f in range(len(names)):
            if f not in held_out:
                estimates[f].append(m[f])
    m = [
        [sum(column) / len(column) for column in zip(*found, strict=True)] if found else _initial_m(n)
        for found, n in zip(estimates, levels, strict=True)
    ]
    compared = Counter(compare(records[i], records[j], schema) for i, j in candidate_pairs(records, schema))
    prior, _ = _expectation_maximisation(compared, u, levels, iterations, fixed_m=m)
    return MatchModel(schema, prior, m, u, _term_frequencies(records, schema))


def candidate_pairs(
    records: Sequence[Record], schema: MatchSchema, rules: Sequence[tuple[str, ...]] | None = None
) -> Iterator[tuple[int, int]]:
    """Distinct pairs sharing a blocking key (of the given rules, by default the schema's)."""
    chosen = MatchSchema(schema.fields, tuple(rules)) if rules is not None else schema
    blocks: dict[str, list[int]] = {}
    for i, record in enumerate(records):
        for key in blocking_keys(record, chosen):
            blocks.setdefault(key, []).append(i)
    seen: set[tuple[int, int]] = set()
    for members in blocks.values():
        if len(members) > MAX_TRAINING_BLOCK:
            continue
        for x, i in enumerate(members):
            for j in members[x + 1 :]:
                if (i, j) not in seen:
                    seen.add((i, j))
                    yield i, j


def _estimate_u(
    records: Sequence[Record], schema: MatchSchema, levels: list[int], pairs: int, rng: Random
) -> list[list[float]]:
    counts = [[0.5] * n for n in levels]  # smoothing: no level is impossible
    n = len(records)
    for _ in range(pairs):
        i, j = rng.randrange(n), rng.randrange(n)
        if i == j:
            continue
        for f, level in enumerate(compare(records[i], records[j], schema)):
            if level is not None:
                counts[f][level] += 1
    return [[c / sum(row) for c in row] for row in counts]


def _initial_m(levels: int) -> list[float]:
    return [0.9 if level == 0 else 0.1 / (levels - 1) for level in range(levels)]


def _expectation_maximisation(
    patterns: Counter[tuple[int | None, ...]],
    u: list[list[float]],
    levels: list[int],
    iterations: int,
    fixed_prior: float | None = None,
    fixed_m: list[list[float]] | None = None,
) -> tuple[float, list[list[float]]]:
    """The prior and m; either may be held fixed (the other is then all that is estimated)."""
    m = fixed_m or [_initial_m(n) for n in levels]
    prior = fixed_prior or 0.1
    for _ in range(iterations):
        expected = [[0.1] * n for n in levels]  # smoothing keeps every log finite
        matched = 0.0
        total = 0
        for vector, count in patterns.items():
            odds = math.log2(prior / (1 - prior))
            for f, level in enumerate(vector):
                if level is not None:
                    odds += math.log2(m[f][level] / u[f][level])
            p = 1 / (1 + 2 ** (-max(min(odds, 60), -60)))
            matched += p * count
            total += count
            for f, level in enumerate(vector):
                if level is not None:
                    expected[f][level] += p * count
        if fixed_prior is None:
            prior = min(max(matched / total, 1e-6), 1 - 1e-6)
        if fixed_m is None:
            m = [[c / sum(row) for c in row] for row in expected]
    return prior, m


def _term_frequencies(records: Sequence[Record], schema: MatchSchema) -> dict[str, dict[str, float]]:
    tables = {}
    for spec in schema.fields:
        if spec.term_frequency:
            counts = Counter(v for r in records if (v := r.get(spec.name)))
            total = sum(counts.values()) or 1
            tables[spec.name] = {value: count / total for value, count in counts.items()}
    return tables
