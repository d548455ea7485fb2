"""The sync's shares in worker processes: one GIL each, so converting profile changes (BSON decoding and
Extended JSON, about 0.25 ms of CPU per change) no longer competes with the other streams' threads.

Each worker is spawned (no fork of a process running delta-rs and pymongo threads), opens its own
MongoClient to the parent's store's URI, rebuilds its share and refuses to start unless the
tables hold the batches the parent saw. It sends every commit's `BatchReport` to the parent over its
pipe (progress display, metrics) and, should it fail, its exception. The parent stops all workers when
`stop` is set or any of them fails, waits for each to commit what it has buffered, and raises the first
failure. A worker never outlives its parent: the kernel kills it when the parent dies (Linux
PR_SET_PDEATHSIG), and it exits at once, without committing, when its pipe to the parent closes.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import pickle
import signal
import threading
import traceback
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from typing import Any

from c360.collector import settle_heap
from c360.orphans import die_with_parent
from c360.process_name import set_process_name
from c360.settings import LakeSettings
from c360.storage import Location
from operational.store import Store
from sync.share import Share, ShareSync
from sync.stream import OnCommit

STOP = "stop"
POLL_S = 0.1


@dataclass(frozen=True)
class Job:
    """What a worker needs to rebuild its share: all picklable."""

    share: Share
    uri: str  # the parent's store's (a client never crosses processes)
    database: str
    settings: LakeSettings
    lake: Location
    expect: dict[str, int]  # the batches the parent saw in each of the share's tables
    parent: int


def run_workers(jobs: list[Job], on_commit: OnCommit, stop: threading.Event) -> None:
    """One process per job until `stop` is set or a worker fails; `on_commit` runs in this thread. Every
    worker's pipe is read until it has exited, so none blocks on a full pipe while committing its last
    batch."""
    ctx = mp.get_context("spawn")
    workers: dict[Connection, BaseProcess] = {}
    for job in jobs:
        ours, theirs = ctx.Pipe()
        proc = ctx.Process(target=_work, args=(theirs, job), name=f"sync-{job.share.name}", daemon=True)
        proc.start()
        theirs.close()
        workers[ours] = proc
    told: set[Connection] = set()
    failure: BaseException | None = None
    while workers:
        try:
            if stop.is_set() or failure is not None:
                _tell_stop(workers, told)
            for conn in wait(list(workers), POLL_S):
                try:
                    kind, payload = conn.recv()
                except EOFError:  # the worker has exited
                    proc = workers.pop(conn)
                    proc.join()
                    if proc.exitcode != 0 and failure is None:
                        failure = RuntimeError(f"{proc.name} exited with code {proc.exitcode}")
                    continue
                if kind == "commit":
                    on_commit(payload)
                elif failure is None:
                    failure = payload
        except BaseException as exc:  # on_commit's, or an interrupt: the workers stop, as for a failure
            failure = failure or exc
    if failure is not None:
        raise failure


def _tell_stop(workers: dict[Connection, BaseProcess], told: set[Connection]) -> None:
    for conn in workers.keys() - told:
        with contextlib.suppress(OSError):  # it has exited already; its end of file is read next
            conn.send(STOP)
        told.add(conn)


def _work(conn: Connection, job: Job) -> None:
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
