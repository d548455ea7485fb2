"""Reading batch files from local disk (no servers): what a location means, formats and gzip told by
their bytes, hostile files refused with a reason, and a read resumed from any batch's position giving
exactly the rows after it."""

from __future__ import annotations

import gzip
import json
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import pytest

from ingest.file_reader import (
    FileReadError,
    Position,
    checksum,
    file_format,
    find_files,
    read_rows,
)
from ingest.file_rows import FileFormat, FileRow
from ingest.mappings import CsvOptions

LIMIT = 1_000
START = Position()


def rows_of(
    path: Path,
    fmt: FileFormat,
    options: CsvOptions | None = None,
    start: Position = START,
    batch: int = 3,
) -> tuple[list[FileRow], list[str], list[Position]]:
    [ref] = find_files(str(path))
    rows, refused, positions = [], [], []
    for b in read_rows(ref, fmt, options or CsvOptions(), start, batch, LIMIT):
        rows += b.rows
        refused += [letter.message for letter in b.refused]
        positions.append(b.position)
    return rows, refused, positions


def test_a_location_is_a_file_a_folder_or_a_glob(tmp_path: Path) -> None:
    for name in ("b.csv", "a.csv", "c.jsonl", ".hidden.csv", "d.csv.part", "e.csv.tmp", "_SUCCESS"):
        (tmp_path / name).write_text("x\n")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "f.csv").write_text("x\n")
    names = lambda refs: [Path(r.uri).name for r in refs]  # noqa: E731
    assert names(find_files(str(tmp_path))) == ["a.csv", "b.csv", "c.jsonl"]
    assert names(find_files(str(tmp_path / "*.csv"))) == ["a.csv", "b.csv"]
    assert names(find_files(str(tmp_path / "b.csv"))) == ["b.csv"]
    with pytest.raises(FileReadError, match="no such file"):
        find_files(str(tmp_path / "missing.csv"))
    with pytest.raises(FileReadError, match="wildcards are allowed in the file name only"):
        find_files(str(tmp_path / "*" / "f.csv"))


def test_a_uri_is_read_through_the_filesystem_given(tmp_path: Path) -> None:
    """How an object store is read: `s3://bucket/key` paths resolved by a configured filesystem."""
    (tmp_path / "bucket" / "drops").mkdir(parents=True)
    (tmp_path / "bucket" / "drops" / "x.csv").write_text("a,b\n1,2\n")
    store = pafs.SubTreeFileSystem(str(tmp_path), pafs.LocalFileSystem())
    [ref] = find_files("s3://bucket/drops/*.csv", store)
    assert (ref.path, ref.uri) == ("bucket/drops/x.csv", "subtree://bucket/drops/x.csv")
    [batch] = read_rows(ref, "csv", CsvOptions(), Position(), 10, LIMIT)
    assert [r.content for r in batch.rows] == [{"a": b"1", "b": b"2"}]


def test_formats_come_from_the_mapping_or_the_name_and_gzip_from_the_bytes(tmp_path: Path) -> None:
    (tmp_path / "plain.csv.gz").write_text("a\n1\n")  # named .gz, not compressed
    (tmp_path / "packed.csv").write_bytes(gzip.compress(b"a\n2\n"))  # compressed, named .csv
    (tmp_path / "data.bin").write_text("a\n3\n")
    plain, packed, other = (
        find_files(str(tmp_path / n))[0] for n in ("plain.csv.gz", "packed.csv", "data.bin")
    )
    assert (file_format(plain, None), file_format(packed, None), file_format(other, "csv")) == (
        "csv",
        "csv",
        "csv",
    )
    with pytest.raises(FileReadError, match="cannot tell the format"):
        file_format(other, None)
    assert [r.content for r in rows_of(tmp_path / "plain.csv.gz", "csv")[0]] == [{"a": b"1"}]
    assert [r.content for r in rows_of(tmp_path / "packed.csv", "csv")[0]] == [{"a": b"2"}]


def test_csv_dialect_header_and_malformed_rows(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_bytes(
        b'\xef\xbb\xbfname;note\r\nAnn;"a;b"\r\nshort\r\n"Bo";"two\r\nlines"\r\n\r\nCy;\r\nDee;x;extra\r\n'
    )
    rows, refused, _ = rows_of(path, "csv", CsvOptions(delimiter=";"))
    assert [(r.number, r.content) for r in rows] == [
        (1, {"name": b"Ann", "note": b"a;b"}),
        (2, {"name": b"Bo", "note": b"two\r\nlines"}),
        (3, {"name": b"Cy", "note": None}),
    ]
    assert refused == [
        "malformed CSV row, expected 2 cells, got 1: short",
        "malformed CSV row, expected 2 cells, got 3: Dee;x;extra",
    ]


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (b"", "names no columns"),
        (b"a,b,a\n1,2,3\n", "more than once"),
        (b'"a\n', "header"),
        (b"x" * 70_000, "no end of the header line"),
    ],
)
def test_a_bad_header_refuses_the_file(tmp_path: Path, data: bytes, error: str) -> None:
    (tmp_path / "h.csv").write_bytes(data)
    with pytest.raises(FileReadError, match=error):
        rows_of(tmp_path / "h.csv", "csv")


def test_a_truncated_gzip_keeps_the_batches_before_it(tmp_path: Path) -> None:
    # 25 MB of long rows, so that pyarrow's read-ahead (a few blocks) stops short of the cut.
    data = gzip.compress(("n\n" + "".join(f"{i:05d}{'x' * 1_000}\n" for i in range(25_000))).encode())
    (tmp_path / "cut.csv.gz").write_bytes(data[: len(data) // 2])
    [ref] = find_files(str(tmp_path / "cut.csv.gz"))
    seen = []
    with pytest.raises(FileReadError):
        for batch in read_rows(ref, "csv", CsvOptions(), Position(), 1_000, LIMIT):
            seen += batch.rows
    assert seen and [r.content["n"][:5] for r in seen[:3]] == [b"00000", b"00001", b"00002"]


def test_json_lines_bound_each_line(tmp_path: Path) -> None:
    path = tmp_path / "m.jsonl.gz"
    lines = [b'\xef\xbb\xbf{"a": 1}', b"", b'{"a": 2}\r', b'{"x": "' + b"y" * 5_000 + b'"}', b'{"a": 3}']
    path.write_bytes(gzip.compress(b"\n".join(lines)))
    rows, refused, positions = rows_of(path, "jsonl", batch=2)
    assert [(r.line, r.content) for r in rows] == [(1, b'{"a": 1}'), (3, b'{"a": 2}'), (5, b'{"a": 3}')]
    assert refused == [f"line longer than {LIMIT} bytes"] and positions[-1] == Position(5)


def test_parquet_by_row_group(tmp_path: Path) -> None:
    table = pa.table({"id": list(range(10)), "amount": pa.array([Decimal("1.25")] * 10, pa.decimal128(5, 2))})
    pq.write_table(table, tmp_path / "p.parquet", row_group_size=4)
    rows, _, _ = rows_of(tmp_path / "p.parquet", "parquet", start=Position(5))
    assert [(r.number, r.row_group, r.content["id"]) for r in rows] == [
        (6, 1, 5),
        (7, 1, 6),
        (8, 1, 7),
        (9, 2, 8),
        (10, 2, 9),
    ]
    assert rows[0].content["amount"] == Decimal("1.25")
    (tmp_path / "fake.parquet").write_bytes(b"PAR1 not really")
    (tmp_path / "zipped.parquet").write_bytes(gzip.compress((tmp_path / "p.parquet").read_bytes()))
    for name in ("fake.parquet", "zipped.parquet"):
        with pytest.raises(FileReadError):
            rows_of(tmp_path / name, "parquet")


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_reading_from_any_batchs_position_gives_exactly_the_rest(tmp_path: Path, fmt: FileFormat) -> None:
    path = tmp_path / f"f.{fmt}"
    values = [f"v{i}" for i in range(40)]
    if fmt == "csv":
        body = "".join(f"{v}\n" if i % 7 else f"{v},extra\n" for i, v in enumerate(values))  # malformed rows
        path.write_bytes(gzip.compress(("k\n" + body).encode()))
    elif fmt == "jsonl":
        path.write_text(
            "".join(json.dumps({"k": v}) + ("\n\n" if i % 5 == 0 else "\n") for i, v in enumerate(values))
        )
    else:
        pq.write_table(pa.table({"k": values}), path, row_group_size=6)
    full, refused, positions = rows_of(path, fmt, batch=4)
    assert len(full) + len(refused) == 40
    for position in positions:
        tail, tail_refused, _ = rows_of(path, fmt, start=position, batch=5)
        done = [r for r in full if r.number is not None and r.number <= position.rows]
        assert [r.content for r in tail] == [r.content for r in full[len(done) :]]
        assert len(tail_refused) == len(refused) - position.malformed


def test_the_checksum_follows_the_content(tmp_path: Path) -> None:
    path = tmp_path / "c.csv"
    path.write_text("a\n1\n")
    [ref] = find_files(str(path))
    first = checksum(ref)
    path.write_text("a\n2\n")
    assert checksum(ref) != first and len(first) == 64
