"""Probabilistic matching, pure: comparison levels, blocking keys, the model's weights and guards, and
streaming resolution of FEBRL3/FEBRL4 scored against their published true links."""

from __future__ import annotations

import pytest

from bench.febrl import FEBRL_SCHEMA, cluster_pairs, load, score
from identity.matching.blocking import blocking_keys
from identity.matching.comparisons import compare_values
from identity.matching.estimate import estimate
from identity.matching.model import MatchModel
from identity.matching.resolver import MemoryIndex, StreamingResolver
from identity.matching.schema import PERSON_SCHEMA

ANN = {"first_name": "ann", "last_name": "smith", "date_of_birth": "19800101", "street": "1 high street",
       "city": "york", "postcode": "Y1 1AB"}  # fmt: skip


def test_comparison_levels() -> None:
    assert compare_values("name", "smith", "smith") == 0
    assert compare_values("name", "smith", "smyth") == 2  # Jaro-Winkler 0.893: the 0.80 level
    assert compare_values("name", "jonathan", "jonathon") == 1  # 0.95: the 0.92 level
    assert compare_values("name", "smith", "jones") == 3
    assert compare_values("date", "19800101", "19800110") == 2  # two digits apart
    assert compare_values("exact", "nsw", "vic") == 1
    assert compare_values("name", None, "x") is None


def test_blocking_keys_skip_rules_with_a_missing_field() -> None:
    keys = blocking_keys(ANN | {"street": None}, PERSON_SCHEMA)
    assert keys == [
        "last_name|date_of_birth=smith\x1f19800101",
        "first_name|date_of_birth=ann\x1f19800101",
        "first_name|last_name|postcode=ann\x1fsmith\x1fY1 1AB",
    ]


def _model() -> MatchModel:
    levels = [4, 4, 4, 4, 4, 4]
    m = [[0.8, 0.1, 0.05, 0.05]] * len(levels)
    u = [[0.01, 0.02, 0.07, 0.9]] * len(levels)
    tf = {"last_name": {"smith": 0.05, "zabrowski": 0.0001}}
    return MatchModel(PERSON_SCHEMA, 0.1, m, u, tf)


def test_rare_values_weigh_more_than_common_ones() -> None:
    model = _model()
    common, _ = model.weight(ANN, ANN)
    rare, _ = model.weight(ANN | {"last_name": "zabrowski"}, ANN | {"last_name": "zabrowski"})
    assert rare > common


def test_household_members_are_never_plausible_matches() -> None:
    model = _model()
    sibling = ANN | {"first_name": "bob", "date_of_birth": "19800102"}  # birth dates a digit apart
    parent = ANN | {"date_of_birth": "19520101"}  # same name, other generation
    assert not model.plausible(model.weight(ANN, sibling)[1])
    assert not model.plausible(model.weight(ANN, parent)[1])
    assert model.plausible(model.weight(ANN, ANN | {"first_name": "anne", "street": "1 hgih street"})[1])


@pytest.mark.parametrize(("name", "bar"), [("febrl4", 0.99), ("febrl3", 0.98)])
def test_streaming_febrl_against_true_links(name: str, bar: float) -> None:
    data = load(name)
    model = estimate(list(data.records.values()), FEBRL_SCHEMA)
    resolver = StreamingResolver(model, MemoryIndex(), join_weight=8.0, review_weight=2.0)
    clusters = {rid: resolver.resolve(rid, record)[0] for rid, record in data.records.items()}
    result = score(cluster_pairs(clusters, data), data.truth)
    assert result.f1 >= bar, result
