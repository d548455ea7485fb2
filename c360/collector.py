"""Garbage-collector settings for long-running workers that churn through many short-lived objects
(`c360 ingest run`, the sync's workers).

CPython's defaults (a young collection every 700 container allocations, a full one whenever a quarter
more objects have survived) suit small programs. A sync worker decodes ~2,000 profile changes a
second, each a few dozen dicts and lists that live until their batch commits: with the defaults, 45
full collections walking the start-up heap of ~160,000 objects (pymongo, pyarrow, delta-rs bindings)
took 10.6 of its 33.3 CPU seconds in a sync benchmark run; ingest ran at 2,231 events/s with them and
3,764/s without (docs/BENCHMARKS.md). Almost all of that garbage is acyclic and freed by reference
counting anyway; the collector is only for cycles.
"""

from __future__ import annotations

import gc

YOUNG_EVERY = 50_000  # container allocations (net) between young collections
MIDDLE_EVERY = 20  # young collections per middle one
FULL_EVERY = 100  # middle collections per full one (and then only if enough objects survived)


def settle_heap() -> None:
    """After start-up: the modules' objects move to the permanent generation, never walked again, and
    collections come less often, each over more objects."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_EVERY, MIDDLE_EVERY, FULL_EVERY)
