"""The sync's shares in worker processes: one GIL each, so converting profile changes (BSON decoding and
Extended JSON, about 0.25 ms of CPU per change) no longer competes with the other streams' threads.

Each worker is a new interpreter running sync/worker.py (no fork of a process running delta-rs and
pymongo threads; nothing imported but the sync), opens its own MongoClient to the parent's store's URI,
rebuilds its share and refuses to start unless the tables hold the batches the parent saw. It sends
every commit's `BatchReport` to the parent over its socket pair (progress display, metrics) and, should
it fail, its exception. The parent stops all workers when `stop` is set or any of them fails, waits for
each to commit what it has buffered, and raises the first failure. A worker never outlives its parent:
the kernel kills it when the parent dies (Linux PR_SET_PDEATHSIG), and it exits at once, without
committing, when its connection to the parent closes.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import threading
from dataclasses import dataclass
from multiprocessing import Pipe
from multiprocessing.connection import Connection, wait

from c360.settings import LakeSettings
from c360.storage import Location
from sync.share import Share
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
    workers: dict[Connection, subprocess.Popen[bytes]] = {}
    for job in jobs:
        ours, theirs = Pipe()
        command = [sys.executable, "-m", "sync.worker", str(theirs.fileno()), job.share.name]
        proc = subprocess.Popen(command, pass_fds=[theirs.fileno()])
        theirs.close()
        ours.send(job)
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
                    if proc.wait() != 0 and failure is None:
                        failure = RuntimeError(
                            f"sync worker {proc.args[-1]} exited with code {proc.returncode}"
                        )
                    continue
                if kind == "commit":
                    on_commit(payload)
                elif failure is None:
                    failure = payload
        except BaseException as exc:  # on_commit's, or an interrupt: the workers stop, as for a failure
            failure = failure or exc
    if failure is not None:
        raise failure


def _tell_stop(workers: dict[Connection, subprocess.Popen[bytes]], told: set[Connection]) -> None:
    for conn in workers.keys() - told:
        with contextlib.suppress(OSError):  # it has exited already; its end of file is read next
            conn.send(STOP)
        told.add(conn)
