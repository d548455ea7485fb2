"""One sync per lake: a lease kept in the lake itself, taken and renewed only by conditional creates.

The lease is a chain of small objects, `_c360/sync-lease/<generation>.json`, each created with
If-None-Match: * (of two syncs creating the same generation, exactly one succeeds). Its holder creates
the next generation every third of `lake.lease_seconds`. A sync starting reads the newest generation:
- none, or released by a sync that stopped: it takes the lake;
- held by a process on this machine (same host name and boot): taken over at once if that process is
  gone (a sync restarted after a crash), refused at once if it runs;
- held from another machine: it watches for `lease_seconds`. A renewal means a live holder, and it
  refuses to start (`LakeLeased`, naming the holder); none means the holder stopped, and it takes over
  by creating the next generation.
A holder whose renewal finds that generation taken has lost the lake (`LeaseLost`) and stops.

The lease makes a second sync fail loudly, at its start. It cannot by itself make writes safe: a holder
frozen for longer than the lease (a paused VM) resumes believing it still holds it. What keeps the
tables right then is the Delta log: each sync commit carries the application transaction (lake.app_id,
batch), delta-rs refuses a commit overtaken by another commit of the same application id, and the log
entry itself is a conditional create. The frozen holder's next commit fails, and so does its renewal.

Both rest on the store honouring If-None-Match, which `honours_conditional_create` checks at start-up.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from c360.storage import Location, ObjectExists

log = logging.getLogger(__name__)

PREFIX = "_c360/sync-lease/"
KEEP = 3  # generations left behind a renewal; older ones are deleted
BOOT_ID = Path("/proc/sys/kernel/random/boot_id")


class LakeLeased(RuntimeError):
    """Another sync holds the lake."""


class LeaseLost(RuntimeError):
    """Another sync took the lake over: this one must stop writing."""


class UnsafeStore(RuntimeError):
    """The store ignores conditional writes, on which two writers can overwrite each other's commits."""


@dataclass(frozen=True)
class Holder:
    """Who wrote a generation: enough to tell, on the same machine, whether that process still runs."""

    owner: str  # unique per lease taken
    host: str
    boot: str
    pid: int
    started: str  # the process's start time in clock ticks since boot (/proc/<pid>/stat), against pid reuse
    released: bool = False

    @classmethod
    def me(cls, owner: str) -> Holder:
        return cls(owner, socket.gethostname(), _boot_id(), os.getpid(), _start_ticks(os.getpid()))

    def here(self) -> bool:
        return (self.host, self.boot) == (socket.gethostname(), _boot_id()) and bool(self.boot)

    def running(self) -> bool:
        """On this machine: whether the holder's process still runs (the same one, not a reused pid)."""
        return _start_ticks(self.pid) == self.started

    def describe(self) -> str:
        return f"the sync on {self.host} (pid {self.pid})"


def honours_conditional_create(lake: Location) -> bool:
    """Create a probe object twice: a store honouring If-None-Match refuses the second."""
    name = f"_c360/probe-{uuid.uuid4().hex}"
    lake.create(name, b"1")
    try:
        lake.create(name, b"2")
    except ObjectExists:
        return True
    finally:
        lake.delete(name)
    return False


class LakeLease:
    def __init__(self, lake: Location, generation: int, holder: Holder, seconds: float) -> None:
        self._lake = lake
        self._generation = generation
        self._holder = holder
        self._seconds = seconds
        self._lock = threading.Lock()
        self._done = threading.Event()
        self.lost: LeaseLost | None = None

    @classmethod
    def acquire(
        cls,
        lake: Location,
        seconds: float,
        allow_unsafe_store: bool = False,
        sleep: Callable[[float], None] = time.sleep,
    ) -> LakeLease:
        """Take the lake, or raise `LakeLeased`; `UnsafeStore` first if the store ignores If-None-Match
        and `allow_unsafe_store` is not set."""
        if not honours_conditional_create(lake):
            if not allow_unsafe_store:
                raise UnsafeStore(
                    f"{lake}: the store ignores conditional writes (If-None-Match): two writers could "
                    "overwrite each other's Delta commits. Use a store that honours them (AWS S3, MinIO, "
                    "Google Cloud Storage, Azure Blob Storage), or run exactly one writer and set "
                    "lake.allow_store_without_conditional_put"
                )
            log.warning("%s ignores conditional writes: nothing stops a second writer", lake)
        me = Holder.me(uuid.uuid4().hex)
        newest = _newest(lake)
        if newest is not None and not newest[1].released:
            _check_gone(lake, *newest, seconds, sleep)
            latest = _newest(lake)  # what came after it while we watched: a release, or a faster sync
            if latest is not None and latest[0] != newest[0]:
                if not latest[1].released:
                    raise LakeLeased(f"{lake} was taken by {latest[1].describe()} while this sync waited")
                newest = latest
        taken = cls(lake, (newest[0] if newest else 0), me, seconds)
        if not taken._create(taken._generation + 1):
            raise LakeLeased(f"{lake}: another sync took the lake while this one started")
        return taken

    def keep(self, on_lost: Callable[[LeaseLost], None] = lambda _: None) -> None:
        """Renew in a thread of its own until released; `on_lost` runs if another sync took over."""

        def renewing() -> None:
            while not self._done.wait(self._seconds / 3):
                try:
                    self.renew()
                except LeaseLost as exc:
                    on_lost(exc)
                    return
                except Exception:  # the store did not answer: try again next time, the lease allows it
                    log.exception("%s: renewing the sync's lease failed", self._lake)

        threading.Thread(target=renewing, name="sync-lease", daemon=True).start()

    def renew(self) -> None:
        with self._lock:
            if self._done.is_set():
                return
            if not self._create(self._generation + 1):
                self.lost = LeaseLost(
                    f"{self._lake}: another sync took the lake over (generation {self._generation + 1})"
                )
                self._done.set()
                raise self.lost

    def check(self) -> None:
        """Raise `LeaseLost` if another sync took the lake over."""
        if self.lost is not None:
            raise self.lost

    def release(self) -> None:
        """Hand the lake back: the next sync starts at once."""
        with self._lock:
            if self._done.is_set():
                return
            self._done.set()
            released = Holder(**{**asdict(self._holder), "released": True})
            try:
                self._lake.create(_name(self._generation + 1), json.dumps(asdict(released)).encode())
            except ObjectExists:
                log.warning("%s: the lease was taken over before it was released", self._lake)

    def _create(self, generation: int) -> bool:
        try:
            self._lake.create(_name(generation), json.dumps(asdict(self._holder)).encode())
        except ObjectExists:
            return False
        self._generation = generation
        for old in _generations(self._lake):
            if old <= generation - KEEP:
                self._lake.delete(_name(old))
        return True


def _check_gone(lake: Location, generation: int, holder: Holder, seconds: float, sleep: Callable) -> None:
    """Return when the holder of `generation` has stopped; raise `LakeLeased` while it holds the lake."""
    if holder.here():
        if holder.running():
            raise LakeLeased(f"{lake} is held by {holder.describe()}: run one sync per lake")
        log.warning("%s: %s stopped without releasing the lake; taking over", lake, holder.describe())
        return
    log.warning("%s: held by %s; waiting %.0f s for a renewal", lake, holder.describe(), seconds)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        sleep(min(0.5, seconds / 10))
        newest = _newest(lake)
        if newest is not None and newest[0] != generation:
            if newest[1].released:
                return
            raise LakeLeased(
                f"{lake} is held by {newest[1].describe()}, which renewed its lease: run one sync per lake"
            )
    log.warning("%s: %s did not renew its lease in %.0f s; taking over", lake, holder.describe(), seconds)


def _newest(lake: Location) -> tuple[int, Holder] | None:
    for generation in sorted(_generations(lake), reverse=True):
        try:
            return generation, Holder(**json.loads(lake.read(_name(generation))))
        except FileNotFoundError:
            continue  # deleted by a renewal meanwhile: an older one
    return None


def _generations(lake: Location) -> list[int]:
    names = (name.removeprefix(PREFIX).removesuffix(".json") for name in lake.list(PREFIX))
    return [int(n) for n in names if n.isdigit()]


def _name(generation: int) -> str:
    return f"{PREFIX}{generation:020d}.json"


def _boot_id() -> str:
    try:
        return BOOT_ID.read_text().strip()
    except OSError:  # not Linux: no process is ever recognised as gone, the watch decides
        return ""


def _start_ticks(pid: int) -> str:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    return stat.rsplit(")", 1)[1].split()[19]
