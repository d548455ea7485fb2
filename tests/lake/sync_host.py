"""`python -m tests.lake.sync_host`: the sync as `c360 sync run` runs it (settings from the environment,
the lake's lease, a worker process per share) without importing the whole CLI, 3 s of CPU a start: the
crash test starts it twenty times. It prints a line per commit, as the workers report them, and runs
until killed."""

from __future__ import annotations

import threading

from c360.settings import load_settings
from operational.store import Store
from sync.runner import LakeSync
from sync.stream import BatchReport


def main() -> None:
    settings = load_settings()
    store = Store.open(settings.mongo.uri, settings.mongo.database)
    LakeSync(store, settings.lake, on_commit=_print).run(threading.Event())


def _print(commit: BatchReport) -> None:
    print(commit.table, commit.batch, flush=True)


if __name__ == "__main__":
    main()
