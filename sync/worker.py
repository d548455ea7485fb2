"""A sync worker process, `python -m sync.worker FD SHARE`: one share of the sync (sync/processes.py) in a
process of its own, started by importing only the sync.

The worker is its own entry point rather than a multiprocessing spawn, which imports the parent's main
module in every child: under `c360 sync run` that is the whole CLI (the API, Kafka, the lakehouse), 3.5 s
of CPU per worker per start. FD is the worker's end of a socket pair to the parent: the `Job` arrives on
it first, then `stop`; commits and a failure go back on it. SHARE only names the process for `ps`.
"""

from __future__ import annotations

import os
import pickle
import signal
import sys
import threading
import traceback
from multiprocessing.connection import Connection
from typing import Any

from c360.collector import settle_heap
from c360.orphans import die_with_parent
from c360.process_name import set_process_name
from operational.store import Store
from sync.processes import Job
from sync.share import ShareSync


def main(fd: int) -> None:
    conn = Connection(fd)
    job: Job = conn.recv()
    work(conn, job)


def work(conn: Connection, job: Job) -> None:
    """A worker's life: its share until the parent says stop, then a last commit."""
    for sig in (signal.SIGINT, signal.SIGTERM):  # a terminal's Ctrl-C reaches the whole group: the
        signal.signal(sig, signal.SIG_IGN)  # parent decides, and tells the workers to commit and stop
    die_with_parent(job.parent)
    set_process_name(f"sync-{job.share.name}")
    stop = threading.Event()
    sending = threading.Lock()

    def send(message: tuple[str, Any]) -> None:
        with sending:
            conn.send(message)

    threading.Thread(target=_listen, args=(conn, stop), name="sync-parent", daemon=True).start()
    try:
        store = Store.open(job.uri, job.database)
        try:
            share = ShareSync(
                job.share, store.db, job.settings, job.lake, lambda r: send(("commit", r)), expect=job.expect
            )
            settle_heap()
            share.follow(stop)
        finally:
            store.close()
    except BaseException as exc:
        send(("error", _portable(exc, job.share.name)))


def _listen(conn: Connection, stop: threading.Event) -> None:
    """Stop when told; exit at once, committing nothing, when the parent is gone."""
    try:
        conn.recv()
        stop.set()
    except (EOFError, OSError):
        os._exit(1)


def _portable(exc: BaseException, name: str) -> BaseException:
    """The exception with the worker's traceback as a note, as itself when it survives pickling."""
    exc.add_note(f"in sync worker {name}:\n{''.join(traceback.format_exception(exc))}")
    try:
        pickle.loads(pickle.dumps(exc))
        return exc
    except Exception:
        return RuntimeError(f"sync worker {name}: {type(exc).__name__}: {exc}\n{exc.__notes__[-1]}")


if __name__ == "__main__":
    main(int(sys.argv[1]))
