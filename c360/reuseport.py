"""Several uvicorn workers, each with a listening socket of its own on the same port (SO_REUSEPORT).

uvicorn's own `--workers` share one listening socket, and whichever worker wakes first accepts: a client
that opens its keep-alive pool at once (an offer service, a load balancer, the read benchmark's 32
connections) lands mostly on one worker (32/0, 29/3 and 18/14 in three tries), which then queues while the
others idle. With a socket per worker the kernel spreads new connections across them by a hash of the
addresses. The price is that the supervisor here is simpler than uvicorn's: a worker that exits ends the
whole server (a process manager restarts it), and there is no reload. Workers die with the supervisor,
even a SIGKILLed one (uvicorn's are left running, holding the port).
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import socket
from multiprocessing.connection import wait
from types import FrameType

import uvicorn

from c360.orphans import die_with_parent

_SPAWN = multiprocessing.get_context("spawn")  # no fork: a worker starts its own clients and threads


def serve_workers(config: uvicorn.Config, workers: int) -> int:
    """Run `workers` processes serving `config` on its host and port until one of them exits or this
    process gets SIGTERM or SIGINT (passed on as SIGTERM: uvicorn's graceful shutdown); returns the exit
    status of the worker that ended first, 0 after a requested stop."""
    _check_free(config.host, config.port)
    parent = os.getpid()
    processes = [
        _SPAWN.Process(target=_worker, args=(config, parent), name=f"api-{n}") for n in range(workers)
    ]
    for process in processes:
        process.start()
    stopping = False

    def stop(_signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True
        for process in processes:
            process.terminate()

    previous = {s: signal.signal(s, stop) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        ended = wait([p.sentinel for p in processes])  # the first to end, for any reason, ends the server
        first = next(p for p in processes if p.sentinel in ended)
        first.join()
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.join()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0 if stopping else abs(first.exitcode or 0)


def _worker(config: uvicorn.Config, parent: int) -> None:
    die_with_parent(parent)
    config.configure_logging()
    family = socket.AF_INET6 if ":" in config.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((config.host, config.port))
    uvicorn.Server(config).run(sockets=[sock])


def _check_free(host: str, port: int) -> None:
    """Bound without SO_REUSEPORT, to fail on a port already served, even by another c360 whose
    workers would otherwise silently share it with these."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise OSError(exc.errno, f"cannot serve on {host}:{port}: {exc.strerror}") from None
