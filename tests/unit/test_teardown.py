"""The suite's teardown kills what tests left running (a sync and its workers) before it stops the
servers, and leaves the servers alone: here on a process tree of the test's own."""

from __future__ import annotations

import subprocess
import time

from tests.conftest import _descendants, _running, _stop_leftovers

# A server (with a child of its own) whose pid is printed, a leftover, and a leftover with a worker.
TREE = "sh -c 'sleep 60 & wait' & echo $!; sleep 60 & sh -c 'sleep 60 & wait' & wait"


def test_leftovers_are_killed_and_the_servers_stay() -> None:
    root = subprocess.Popen(["sh", "-c", TREE], stdout=subprocess.PIPE, text=True)
    try:
        assert root.stdout is not None
        server = int(root.stdout.readline())
        deadline = time.monotonic() + 10
        while len(everything := _descendants(root.pid, keep=lambda _: False)) < 5:
            assert time.monotonic() < deadline, f"the tree did not start: {everything}"
            time.sleep(0.05)
        served = [server, *_descendants(server, keep=lambda _: False)]
        _stop_leftovers(root.pid, keep={server})
        assert sorted(pid for pid in everything if _running(pid)) == sorted(served)
    finally:
        _stop_leftovers(root.pid, keep=set())
        root.kill()
        root.wait()
