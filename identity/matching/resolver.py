"""Streaming resolution: each new record is compared only with the records its blocking keys reach, and
joins the best cluster above the join weight; a grey-zone best opens a review instead of a merge.

`decide` is pure; `StreamingResolver` runs it against a `CandidateIndex` (in memory here, MongoDB in
operational/match_store.py), so the same decision code serves the benchmark and the operational store.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from identity.matching.blocking import blocking_keys
from identity.matching.model import MatchModel
from identity.matching.schema import Record

MAX_BLOCK = 200  # a key shared by more records than this (a common name) stops finding candidates


@dataclass(frozen=True)
class Candidate:
    record_id: str
    cluster: str
    record: Record
    keys: tuple[str, ...] = ()  # its blocking keys, when the index stored them


@dataclass(frozen=True)
class Decision:
    """`join`: the record belongs to `cluster`; `review`: it starts its own cluster, and `cluster`
    (the best candidate) goes to a person; `new`: nothing came close."""

    outcome: str
    cluster: str | None
    weight: float | None
    vector: tuple[int | None, ...] | None
    record_id: str | None = None  # the best candidate record: the evidence


def decide(
    record: Record,
    candidates: Sequence[Candidate],
    model: MatchModel,
    join_weight: float,
    review_weight: float,
) -> Decision:
    best: tuple[float, Candidate, tuple[int | None, ...]] | None = None
    for candidate in candidates:
        weight, vector = model.weight(record, candidate.record)
        if not model.plausible(vector):
            continue
        if best is None or weight > best[0]:
            best = (weight, candidate, vector)
    if best is None or best[0] < review_weight:
        return Decision("new", None, None if best is None else best[0], None if best is None else best[2])
    weight, candidate, vector = best
    outcome = "join" if weight >= join_weight else "review"
    return Decision(outcome, candidate.cluster, weight, vector, candidate.record_id)


@dataclass(frozen=True)
class Entry:
    """A record as the index stores it: under its blocking keys, with the cluster it belongs to."""

    record_id: str
    cluster: str
    keys: list[str]
    record: Record


class CandidateIndex(Protocol):
    def candidates(self, keys: list[str]) -> list[Candidate]: ...

    def add(self, entries: list[Entry]) -> None: ...


class MemoryIndex:
    """Blocking index in process memory: the benchmark's store, and a batch's overlay on a slower one."""

    def __init__(self, seed: Sequence[Candidate] = (), keys: Sequence[list[str]] = ()) -> None:
        self._blocks: dict[str, list[str]] = {}
        self._records: dict[str, Candidate] = {}
        for candidate, its_keys in zip(seed, keys, strict=True):
            self._put(candidate, its_keys)

    def candidates(self, keys: list[str]) -> list[Candidate]:
        ids = {rid for key in keys if len(block := self._blocks.get(key, ())) <= MAX_BLOCK for rid in block}
        return [self._records[rid] for rid in sorted(ids)]

    def add(self, entries: list[Entry]) -> None:
        for entry in entries:
            self._put(Candidate(entry.record_id, entry.cluster, entry.record), entry.keys)

    def _put(self, candidate: Candidate, keys: list[str]) -> None:
        self._records[candidate.record_id] = candidate
        for key in keys:
            self._blocks.setdefault(key, []).append(candidate.record_id)


class StreamingResolver:
    def __init__(
        self, model: MatchModel, index: CandidateIndex, join_weight: float, review_weight: float
    ) -> None:
        self._model = model
        self._index = index
        self._join = join_weight
        self._review = review_weight

    def resolve(self, record_id: str, record: Record) -> tuple[str, Decision]:
        """Place one record; returns its cluster (its own id unless it joined one) and the decision."""
        return self.resolve_batch([(record_id, record)])[0]

    def resolve_batch(
        self, items: Sequence[tuple[str, Record]], homes: Sequence[str] | None = None
    ) -> list[tuple[str, Decision]]:
        """Place records in order, as if one at a time, with one index read and one write for all: a
        record may join one that arrived earlier in the same batch. A record that joins nothing stays in
        its home cluster (its profile; by default its own id)."""
        keyed = [(rid, record, blocking_keys(record, self._model.schema)) for rid, record in items]
        found = self._index.candidates(sorted({k for _, _, keys in keyed for k in keys}))
        overlay = MemoryIndex(
            found, [list(c.keys) or blocking_keys(c.record, self._model.schema) for c in found]
        )
        entries, results = [], []
        for n, (rid, record, keys) in enumerate(keyed):
            decision = decide(record, overlay.candidates(keys), self._model, self._join, self._review)
            home = rid if homes is None else homes[n]
            cluster = decision.cluster if decision.outcome == "join" and decision.cluster else home
            entry = Entry(rid, cluster, keys, record)
            overlay.add([entry])
            entries.append(entry)
            results.append((cluster, decision))
        self._index.add(entries)
        return results
