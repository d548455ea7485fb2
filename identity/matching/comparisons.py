"""Field comparisons, pure: two values to an agreement level with rapidfuzz (Jaro-Winkler, Levenshtein).

Level 0 is exact agreement and the last level disagreement; None means a value is missing, which is no
evidence either way.
"""

from __future__ import annotations

from rapidfuzz.distance import JaroWinkler, Levenshtein

from identity.matching.schema import Kind, MatchSchema, Record

# Per kind: the similarity floors (Jaro-Winkler) or distance ceilings (Levenshtein) of the middle levels.
_JW_FLOORS: dict[Kind, tuple[float, ...]] = {"name": (0.92, 0.80), "text": (0.90, 0.70)}
_LEV_CEILINGS: dict[Kind, tuple[int, ...]] = {"id": (1, 2), "date": (1, 2), "exact": ()}


def level_count(kind: Kind) -> int:
    middle = _JW_FLOORS.get(kind) or _LEV_CEILINGS.get(kind, ())
    return len(middle) + 2


def compare_values(kind: Kind, a: str | None, b: str | None) -> int | None:
    if not a or not b:
        return None
    if a == b:
        return 0
    if kind in _JW_FLOORS:
        similarity = JaroWinkler.similarity(a, b)
        floors = _JW_FLOORS[kind]
        return next((i + 1 for i, floor in enumerate(floors) if similarity >= floor), len(floors) + 1)
    ceilings = _LEV_CEILINGS[kind]
    if not ceilings:
        return 1
    distance = Levenshtein.distance(a, b, score_cutoff=ceilings[-1])
    return next((i + 1 for i, top in enumerate(ceilings) if distance <= top), len(ceilings) + 1)


def compare(a: Record, b: Record, schema: MatchSchema) -> tuple[int | None, ...]:
    """The comparison vector of two records, one level per field."""
    return tuple(compare_values(f.kind, a.get(f.name), b.get(f.name)) for f in schema.fields)
