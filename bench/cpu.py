"""Where a phase's CPU went, from /proc: the servers under test, and what the machine lost to others.

On a shared 2-core machine a latency tail is either our own saturation or someone else's: a phase's
report carries the CPU its processes used per request, how busy the whole machine was, and the
hypervisor's steal, so that the two can be told apart afterwards.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

HZ = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> list[str] | None:
    """The fields of /proc/<pid>/stat after the command name (state, ppid, ...); None once it is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None


def process_cpu_s(pid: int) -> float:
    """User + system CPU seconds of one process; 0 once it is gone."""
    fields = _stat(pid)
    return 0.0 if fields is None else (int(fields[11]) + int(fields[12])) / HZ  # utime, stime


def tree_pids(pid: int) -> list[int]:
    """`pid` and its descendants (uvicorn's workers under `c360 serve`)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (fields := _stat(int(entry))) is not None:
            children.setdefault(int(fields[1]), []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, []))
    return found


def _machine() -> tuple[float, float, float]:
    """(busy, idle, steal) seconds summed over all CPUs since boot."""
    values = [int(v) / HZ for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    user, nice, system, idle, iowait, irq, softirq, steal = values[:8]
    return user + nice + system + irq + softirq, idle + iowait, steal


@dataclass
class CpuWindow:
    """CPU of named process groups and of the machine between `start()` and `stop()`."""

    groups: dict[str, list[int]]
    _begin: dict[str, float] | None = None
    _machine_begin: tuple[float, float, float] = (0.0, 0.0, 0.0)
    _wall_begin: float = 0.0

    def _usage(self) -> dict[str, float]:
        return {name: sum(process_cpu_s(p) for p in pids) for name, pids in self.groups.items()}

    def start(self) -> CpuWindow:
        self._begin, self._machine_begin, self._wall_begin = self._usage(), _machine(), time.monotonic()
        return self

    def stop(self, requests: int) -> dict[str, float]:
        """Each group's CPU per request (µs), the machine's busy share (% of all cores) and steal (s)."""
        assert self._begin is not None, "start() first"
        end, machine, wall = self._usage(), _machine(), time.monotonic() - self._wall_begin
        busy, idle, steal = (b - a for a, b in zip(self._machine_begin, machine, strict=True))
        report = {f"{name}_cpu_us": round((end[name] - self._begin[name]) / requests * 1e6) for name in end}
        report["machine_busy_pct"] = round(100 * busy / max(busy + idle + steal, 1e-9), 1)
        report["steal_s"] = round(steal, 2)
        report["wall_s"] = round(wall, 1)
        return report
