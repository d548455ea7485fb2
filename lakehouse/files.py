"""Query results to files, deterministically: the same rows always give the same bytes."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Literal

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

Format = Literal["csv", "parquet", "json"]


def encode(rows: pa.Table, fmt: Format) -> bytes:
    """Parquet (zstd), CSV with a header, or JSON lines (decimals and times as strings, exact)."""
    sink = io.BytesIO()
    if fmt == "parquet":
        pq.write_table(rows, sink, compression="zstd")
    elif fmt == "csv":
        pacsv.write_csv(rows, sink)
    else:
        for row in rows.to_pylist():
            sink.write((json.dumps(row, default=str, ensure_ascii=False) + "\n").encode())
    return sink.getvalue()


def write_table(rows: pa.Table, path: Path, fmt: Format) -> None:
    path.write_bytes(encode(rows, fmt))
