"""File sources without servers: the `files` section's validation, where an import starts from its
checkpoint, when a dropped file counts as finished, and the samples in the repository being exactly what
the demo world's generator writes."""

from __future__ import annotations

import gzip
import io
from pathlib import Path
from typing import Any

import pyarrow.fs as pafs
import pyarrow.parquet as pq
import pytest
from pydantic import ValidationError

from c360.drop_folder import Settling
from c360.world import generate_world
from c360.world_files import SAMPLE_WORLD, sample_files
from ingest.file_reader import FileRef, Position
from ingest.mappings import MappingFile
from operational.import_checkpoints import ALREADY, plan_import, unchanged_since_done

SAMPLES = Path(__file__).resolve().parents[2] / "samples"
EVENTS = {
    "source": "pos",
    "type": {"const": "order"},
    "occurred_at": {"field": "at"},
    "identifiers": [{"type": "loyalty_id", "field": "card"}],
}
STATE = {
    "source": "bureau",
    "table": "credit_bureau",
    "entity": "traits",
    "key": ["ref"],
    "identifiers": [{"type": "customer_id", "field": "ref"}],
    "columns": {"as_of": {"field": "as_of", "kind": "date"}},
}


def ref(size: int = 10, mtime: int | None = 1) -> FileRef:
    return FileRef(pafs.LocalFileSystem(), "/d/f.csv", "/d/f.csv", size, mtime)


@pytest.mark.parametrize(
    ("entry", "error"),
    [
        ({"name": "a"}, "exactly one of `events` or `state`"),
        ({"name": "a", "events": EVENTS, "state": STATE}, "exactly one of `events` or `state`"),
        ({"name": "a", "state": {**STATE, "columns": {}}}, r"needs the columns \['as_of'\]"),
        (
            {"name": "a", "state": {**STATE, "entity": "holding", "columns": {"as_of": {"field": "x"}}}},
            "as_of",
        ),
        ({"name": "A b", "events": EVENTS}, "name"),
        ({"name": "a", "events": EVENTS, "format": "xlsx"}, "format"),
        ({"name": "a", "events": EVENTS, "csv": {"delimiter": ";;"}}, "delimiter"),
        ({"name": "a", "events": EVENTS, "csv": {"encoding": "shift_jis"}}, "not UTF-8 or an ASCII-based"),
        ({"name": "a", "events": {**EVENTS, "topic": "t"}}, "topic"),
    ],
)
def test_a_bad_file_source_is_refused_naming_the_entry(entry: dict[str, Any], error: str) -> None:
    with pytest.raises(ValidationError, match=error):
        MappingFile.model_validate({"files": [entry]})


def test_file_source_names_are_unique() -> None:
    with pytest.raises(ValidationError, match="each file source name may be used once"):
        MappingFile.model_validate(
            {"files": [{"name": "a", "events": EVENTS}, {"name": "a", "state": STATE}]}
        )


def test_where_an_import_starts() -> None:
    done = {"checksum": "c1", "done": True, "position": {"rows": 9, "malformed": 1}}
    halfway = {**done, "done": False}
    assert plan_import(None, "c1").start == Position()
    assert plan_import(done, "c1") == plan_import(done, "c1", from_start=False)
    assert plan_import(done, "c1").start is None and plan_import(done, "c1").why == ALREADY
    assert plan_import(halfway, "c1").start == Position(9, 1)
    assert plan_import(halfway, "c1").why == "resumed after row 9"
    assert plan_import(done, "c2").start == Position() and plan_import(done, "c2").why.startswith("changed")
    assert plan_import(done, "c1", from_start=True).start == Position()


def test_a_completed_file_of_the_same_size_and_time_is_not_read_again() -> None:
    done = {"done": True, "size": 10, "mtime_ns": 1}
    assert unchanged_since_done(done, ref())
    assert not unchanged_since_done(done, ref(size=11))
    assert not unchanged_since_done(done, ref(mtime=2))
    assert not unchanged_since_done({**done, "done": False}, ref())
    assert not unchanged_since_done(None, ref())


def test_a_dropped_file_is_ready_once_it_kept_its_size_and_time_for_the_settle_time() -> None:
    settling = Settling()
    assert settling.ready([ref(10)], now=0.0, settle_s=5) == []
    assert settling.ready([ref(20)], now=3.0, settle_s=5) == []  # still growing: its clock restarts
    assert settling.ready([ref(20)], now=7.0, settle_s=5) == []
    assert settling.ready([ref(20)], now=8.0, settle_s=5) == [ref(20)]
    assert settling.ready([], now=9.0, settle_s=5) == [] and settling.since == {}  # gone: forgotten
    assert Settling().ready([ref()], now=0.0, settle_s=0) == [ref()]


def test_the_samples_are_what_the_generator_writes() -> None:
    """`c360 world files samples` writes them again; compared by content (Parquet's metadata names the
    pyarrow version that wrote it, gzip's header nothing)."""
    made = sample_files(generate_world(**SAMPLE_WORLD))
    committed = {p.name: p.read_bytes() for p in SAMPLES.iterdir() if p.name != "README.md"}
    assert sorted(committed) == sorted(made)
    for name, data in made.items():
        if name.endswith(".parquet"):
            assert pq.read_table(io.BytesIO(committed[name])).equals(pq.read_table(io.BytesIO(data)))
        elif name.endswith(".gz"):
            assert gzip.decompress(committed[name]) == gzip.decompress(data)
        else:
            assert committed[name] == data
