"""Worker processes named for their job, so that `top`, `ps -o comm` and /proc tell them apart: every
spawned worker's command line is the same `python -c "from multiprocessing.spawn import ..."`."""

from __future__ import annotations

import ctypes
import sys

PR_SET_NAME = 15
MAX_NAME = 15  # the kernel keeps 15 bytes of a process name


def set_process_name(name: str) -> None:
    """This process's name in /proc/<pid>/comm (Linux; elsewhere nothing happens)."""
    if sys.platform == "linux":
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_NAME, name.encode()[:MAX_NAME], 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_NAME)")
