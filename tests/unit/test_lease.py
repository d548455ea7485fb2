"""The sync's lease on a local lake (no servers; the object-store side is in tests/lake/test_object_store.py):
one holder at a time, taken over at once from a process that is gone, after a silent `lease_seconds`
from another machine, never from one that renews; a holder overtaken learns it at its next renewal."""

from __future__ import annotations

import json
import subprocess
import threading
import time
from dataclasses import asdict, replace
from pathlib import Path

import pytest

from c360.storage import Location
from sync.lease import PREFIX, Holder, LakeLease, LakeLeased, LeaseLost, honours_conditional_create


def _generations(lake: Location) -> list[dict[str, object]]:
    return [json.loads(lake.read(name)) for name in sorted(lake.list(PREFIX))]


def _write(lake: Location, generation: int, holder: Holder) -> None:
    lake.create(f"{PREFIX}{generation:020d}.json", json.dumps(asdict(holder)).encode())


def test_one_holder_at_a_time_and_a_released_lake_is_taken_at_once(tmp_path: Path) -> None:
    lake = Location(str(tmp_path))
    assert honours_conditional_create(lake)
    first = LakeLease.acquire(lake, seconds=30)
    started = time.monotonic()
    with pytest.raises(LakeLeased, match="run one sync per lake"):
        LakeLease.acquire(lake, seconds=30)  # this very process holds it, and runs: no wait
    assert time.monotonic() - started < 5
    first.release()
    second = LakeLease.acquire(lake, seconds=30)
    second.renew()
    written = _generations(lake)  # the first generation pruned: a renewal keeps the newest three
    assert [g["released"] for g in written] == [True, False, False]
    assert written[0]["owner"] != written[1]["owner"] == written[2]["owner"]
    assert not list(tmp_path.glob("_c360/probe-*")), "the conditional-write probe is cleaned up"


def test_a_lease_left_by_a_process_that_is_gone_is_taken_over_at_once(tmp_path: Path) -> None:
    lake = Location(str(tmp_path))
    gone = subprocess.Popen(["true"])
    gone.wait()
    _write(lake, 7, replace(Holder.me("crashed"), pid=gone.pid, started="1"))
    started = time.monotonic()
    lease = LakeLease.acquire(lake, seconds=30)
    assert time.monotonic() - started < 5
    assert _generations(lake)[-1]["owner"] != "crashed"
    lease.release()


def test_a_holder_elsewhere_is_waited_for_refused_while_it_renews_and_replaced_when_silent(
    tmp_path: Path,
) -> None:
    lake = Location(str(tmp_path))
    elsewhere = replace(Holder.me("remote"), host="another-machine")
    _write(lake, 1, elsewhere)
    renewing = threading.Timer(0.5, _write, (lake, 2, elsewhere))
    renewing.start()
    started = time.monotonic()
    with pytest.raises(LakeLeased, match="renewed its lease"):
        LakeLease.acquire(lake, seconds=3)
    assert 0.5 <= time.monotonic() - started < 3

    started = time.monotonic()  # now silent: after `seconds` without a renewal it is taken over
    lease = LakeLease.acquire(lake, seconds=1.5)
    assert time.monotonic() - started >= 1.5
    assert _generations(lake)[-1]["owner"] != "remote"
    lease.release()


def test_a_holder_overtaken_learns_it_at_its_next_renewal(tmp_path: Path) -> None:
    lake = Location(str(tmp_path))
    lease = LakeLease.acquire(lake, seconds=30)
    generation = int(sorted(lake.list(PREFIX))[-1].removeprefix(PREFIX).removesuffix(".json"))
    _write(lake, generation + 1, replace(Holder.me("usurper"), host="another-machine"))
    with pytest.raises(LeaseLost):
        lease.renew()
    with pytest.raises(LeaseLost):
        lease.check()
    lease.release()  # a lost lease is not released over the new holder's
    assert _generations(lake)[-1]["owner"] == "usurper"


def test_a_lake_released_while_a_newcomer_watches_is_taken_at_once(tmp_path: Path) -> None:
    lake = Location(str(tmp_path))
    elsewhere = replace(Holder.me("remote"), host="another-machine")
    _write(lake, 1, elsewhere)
    threading.Timer(0.3, _write, (lake, 2, replace(elsewhere, released=True))).start()
    started = time.monotonic()
    lease = LakeLease.acquire(lake, seconds=10)
    assert time.monotonic() - started < 5
    assert [g["owner"] for g in _generations(lake)] == ["remote", "remote", lease._holder.owner]
    lease.release()
