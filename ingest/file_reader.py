"""Reading batch files for `c360 import`: their rows in order, a bounded number at a time, from any
filesystem pyarrow reaches (the local disk; object stores through a `pyarrow.fs` filesystem).

CSV goes through pyarrow's streaming reader with every column as bytes (ingest/file_rows.py decodes each
row, so one bad byte refuses one row and no type is ever guessed), Parquet one row group at a time, JSON
Lines line by line with a bounded line length; gzip is recognised by its first bytes, not its name.
Memory is bounded by the CSV block, a Parquet row group and the batch, never by the file.

A `Position` counts what was consumed: data rows (for JSON Lines: lines), and for CSV also the malformed
rows (a wrong number of cells) seen so far, which pyarrow reports apart from the rows. Reading from a
position re-reads the file and drops what lies before it (gzip cannot seek); Parquet skips whole row
groups by their metadata.
"""

from __future__ import annotations

import csv
import fnmatch
import hashlib
import io
import os
import posixpath
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from ingest.file_rows import FileFormat, FileRow, RowDeadLetter
from ingest.mappings import CsvOptions

GZIP_MAGIC = b"\x1f\x8b"
UTF8_BOM = b"\xef\xbb\xbf"
CSV_BLOCK_BYTES = 1 << 20
HEADER_MAX_BYTES = 1 << 16
READ_BUFFER_BYTES = 1 << 20
# Names writers give files still being written, and hidden files: never picked from a directory.
PARTIAL_SUFFIXES = (".tmp", ".part", ".partial", ".crdownload", ".filepart", ".inprogress")
EXTENSIONS: dict[str, FileFormat] = {
    ".csv": "csv",
    ".tsv": "csv",
    ".txt": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
}


class FileReadError(Exception):
    """The file itself cannot be read on (missing, truncated, not the format it claims, a bad header)."""


@dataclass(frozen=True)
class FileRef:
    """One file: the filesystem and path to read it by, the URI users see, and what identifies its
    current version cheaply (size and modification time; the checksum is read on demand)."""

    filesystem: pafs.FileSystem
    path: str
    uri: str
    size: int
    mtime_ns: int | None


@dataclass(frozen=True)
class Position:
    rows: int = 0
    malformed: int = 0


@dataclass
class RowBatch:
    """Rows to translate, rows the reader refused itself (malformed CSV, over-long lines), and the
    position just after them."""

    rows: list[FileRow] = field(default_factory=list)
    refused: list[RowDeadLetter] = field(default_factory=list)
    position: Position = Position()


def is_partial(name: str) -> bool:
    """Hidden files and the names writers use while a file is incomplete (`x.csv.part`, `.x.csv`)."""
    return name.startswith((".", "_")) or name.endswith(PARTIAL_SUFFIXES)


def find_files(location: str, filesystem: pafs.FileSystem | None = None) -> list[FileRef]:
    """One file, the files of a directory (not its subdirectories), or a glob whose wildcards are in the
    file name (`drops/pos_*.csv.gz`); sorted by path. Partial and hidden names are left out of both."""
    fs, path = resolve(location, filesystem)
    folder, name = posixpath.split(path)
    if any(ch in folder for ch in "*?["):
        raise FileReadError(f"{location}: wildcards are allowed in the file name only")
    if any(ch in name for ch in "*?["):
        infos = _listing(fs, folder, location)
        return [
            _ref(fs, i)
            for i in infos
            if fnmatch.fnmatchcase(i.base_name, name) and not is_partial(i.base_name)
        ]
    info = fs.get_file_info(path)
    if info.type == pafs.FileType.Directory:
        return [_ref(fs, i) for i in _listing(fs, path, location) if not is_partial(i.base_name)]
    if info.type == pafs.FileType.File:
        return [_ref(fs, info)]
    raise FileReadError(f"{location}: no such file or directory")


def resolve(location: str, filesystem: pafs.FileSystem | None) -> tuple[pafs.FileSystem, str]:
    """The filesystem and path of a location: a local path, or a URI (`s3://bucket/key`) read through
    the filesystem given (configured with its storage options), else the one pyarrow makes of the URI."""
    if "://" not in location:
        return filesystem or pafs.LocalFileSystem(), os.path.abspath(location)
    if filesystem is not None:
        return filesystem, location.split("://", 1)[1]
    try:
        return pafs.FileSystem.from_uri(location)
    except (pa.ArrowException, ValueError) as exc:
        raise FileReadError(f"{location}: {exc}") from None


def file_format(ref: FileRef, declared: FileFormat | None) -> FileFormat:
    """The mapping's format, else the one the name says (`.csv`, `.csv.gz`, `.parquet`, `.jsonl`, ...)."""
    if declared is not None:
        return declared
    name = ref.path.lower().removesuffix(".gz")
    found = EXTENSIONS.get(posixpath.splitext(name)[1])
    if found is None:
        raise FileReadError(f"{ref.uri}: cannot tell the format from the name; give the source a `format`")
    return found


def checksum(ref: FileRef) -> str:
    """SHA-256 of the stored bytes (compressed ones for gzip): what says a file has changed."""
    try:
        with ref.filesystem.open_input_stream(ref.path, compression=None) as stream:
            return hashlib.file_digest(stream, "sha256").hexdigest()
    except (pa.ArrowException, OSError) as exc:
        raise FileReadError(f"{ref.uri}: {exc}") from None


def read_rows(
    ref: FileRef, fmt: FileFormat, options: CsvOptions, start: Position, batch_rows: int, max_bytes: int
) -> Iterator[RowBatch]:
    """The file's rows after `start`, `batch_rows` at a time; raises FileReadError when the file cannot
    be read on (the batches before stay valid)."""
    try:
        if fmt == "csv":
            yield from _csv_batches(ref, options, start, batch_rows)
        elif fmt == "parquet":
            yield from _parquet_batches(ref, start, batch_rows)
        else:
            yield from _jsonl_batches(ref, start, batch_rows, max_bytes)
    except (pa.ArrowException, OSError, EOFError, csv.Error, UnicodeDecodeError) as exc:
        raise FileReadError(f"{ref.uri}: {exc}") from None


# -- files ------------------------------------------------------------------------------------------


def _listing(fs: pafs.FileSystem, folder: str, location: str) -> list[pafs.FileInfo]:
    try:
        infos = fs.get_file_info(pafs.FileSelector(folder, recursive=False))
    except (pa.ArrowException, OSError) as exc:
        raise FileReadError(f"{location}: {exc}") from None
    return sorted((i for i in infos if i.type == pafs.FileType.File), key=lambda i: i.path)


def _ref(fs: pafs.FileSystem, info: pafs.FileInfo) -> FileRef:
    uri = info.path if fs.type_name == "local" else f"{fs.type_name}://{info.path}"
    return FileRef(fs, info.path, uri, info.size or 0, info.mtime_ns)


def _open(ref: FileRef) -> Any:
    """A stream of the file's content, decompressed when it starts with gzip's magic bytes."""
    with ref.filesystem.open_input_stream(ref.path, compression=None) as probe:
        gzipped = probe.read(2) == GZIP_MAGIC
    return ref.filesystem.open_input_stream(ref.path, compression="gzip" if gzipped else None)


# -- CSV --------------------------------------------------------------------------------------------


def _csv_batches(ref: FileRef, options: CsvOptions, start: Position, batch_rows: int) -> Iterator[RowBatch]:
    names = _csv_header(ref, options)
    malformed: list[str] = []

    def refuse(row: pacsv.InvalidRow) -> str:
        malformed.append(f"expected {row.expected_columns} cells, got {row.actual_columns}: {row.text}")
        return "skip"

    parse = pacsv.ParseOptions(
        delimiter=options.delimiter,
        quote_char=options.quote_char or False,
        double_quote=options.double_quote,
        escape_char=options.escape_char or False,
        newlines_in_values=True,
        invalid_row_handler=refuse,
    )
    convert = pacsv.ConvertOptions(
        column_types={name: pa.binary() for name in names}, strings_can_be_null=True, null_values=[""]
    )
    # One thread: pyarrow then reports malformed rows in file order, which resuming relies on.
    read = pacsv.ReadOptions(column_names=names, skip_rows=1, block_size=CSV_BLOCK_BYTES, use_threads=False)
    rows, seen_malformed = 0, 0
    with _open(ref) as stream, pacsv.open_csv(stream, read, parse, convert) as reader:
        for batch in reader:
            refused = []
            for text in malformed:
                seen_malformed += 1
                if seen_malformed > start.malformed:
                    content = text.encode("utf-8", "backslashreplace")
                    row = FileRow(ref.uri, None, "csv", content)
                    refused.append(RowDeadLetter(row, "decode", "$", f"malformed CSV row, {text[:200]}"))
            malformed.clear()
            skip = max(0, min(start.rows - rows, batch.num_rows))
            first = rows
            rows += batch.num_rows
            if skip == batch.num_rows and not refused:
                continue
            for offset in range(skip, max(batch.num_rows, skip + 1), batch_rows):
                chunk = batch.slice(offset, batch_rows).to_pylist()
                out = RowBatch(
                    [FileRow(ref.uri, first + offset + i + 1, "csv", row) for i, row in enumerate(chunk)],
                    refused,
                    Position(first + offset + len(chunk), seen_malformed),
                )
                refused = []
                yield out


def _csv_header(ref: FileRef, options: CsvOptions) -> list[str]:
    """The column names, from the first line, read with the file's own dialect and encoding."""
    with _open(ref) as stream:
        head = stream.read(HEADER_MAX_BYTES)
    line, newline, _ = head.partition(b"\n")
    if not newline and len(head) == HEADER_MAX_BYTES:
        raise FileReadError(f"{ref.uri}: no end of the header line in its first {HEADER_MAX_BYTES} bytes")
    text = line.removeprefix(UTF8_BOM).rstrip(b"\r").decode(options.encoding)
    dialect = {
        "delimiter": options.delimiter,
        "quotechar": options.quote_char,
        "quoting": csv.QUOTE_MINIMAL if options.quote_char else csv.QUOTE_NONE,
        "doublequote": options.double_quote,
        "escapechar": options.escape_char,
        "strict": True,
    }
    names = next(csv.reader([text], **dialect), [])
    if not names or names == [""]:
        raise FileReadError(f"{ref.uri}: the first line names no columns")
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise FileReadError(f"{ref.uri}: the header names {duplicates} more than once")
    return names


# -- Parquet ----------------------------------------------------------------------------------------


def _parquet_batches(ref: FileRef, start: Position, batch_rows: int) -> Iterator[RowBatch]:
    with ref.filesystem.open_input_file(ref.path) as handle:
        parquet = pq.ParquetFile(handle)
        first = 0
        for group in range(parquet.num_row_groups):
            size = parquet.metadata.row_group(group).num_rows
            if first + size <= start.rows:
                first += size
                continue
            for batch in parquet.iter_batches(batch_size=batch_rows, row_groups=[group], use_threads=False):
                skip = max(0, min(start.rows - first, batch.num_rows))
                rows = [
                    FileRow(ref.uri, first + i + 1, "parquet", row, row_group=group)
                    for i, row in enumerate(batch.slice(skip).to_pylist(), start=skip)
                ]
                first += batch.num_rows
                if rows:
                    yield RowBatch(rows, [], Position(first))


# -- JSON Lines -------------------------------------------------------------------------------------


def _jsonl_batches(ref: FileRef, start: Position, batch_rows: int, max_bytes: int) -> Iterator[RowBatch]:
    batch = RowBatch()
    number = 0
    with _open(ref) as stream:
        lines = io.BufferedReader(stream, READ_BUFFER_BYTES)
        while line := lines.readline(max_bytes + 1):
            number += 1
            if number == 1:
                line = line.removeprefix(UTF8_BOM)
            if number <= start.rows:
                if not line.endswith(b"\n") and len(line) > max_bytes:
                    _skip_line(lines)
                continue
            if not line.endswith(b"\n") and len(line) > max_bytes:
                _skip_line(lines)
                row = FileRow(ref.uri, number, "jsonl", line[:1024], line=number)
                batch.refused.append(RowDeadLetter(row, "decode", "$", f"line longer than {max_bytes} bytes"))
            elif content := line.rstrip(b"\r\n"):
                batch.rows.append(FileRow(ref.uri, number, "jsonl", content, line=number))
            if len(batch.rows) + len(batch.refused) >= batch_rows:
                batch.position = Position(number)
                yield batch
                batch = RowBatch()
    if batch.rows or batch.refused:
        batch.position = Position(number)
        yield batch


def _skip_line(lines: io.BufferedReader) -> None:
    """Read past the rest of an over-long line without holding it."""
    while (chunk := lines.readline(READ_BUFFER_BYTES)) and not chunk.endswith(b"\n"):
        pass
