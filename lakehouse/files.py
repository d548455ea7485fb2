"""Query results to files, deterministically: the same rows always give the same bytes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

Format = Literal["csv", "parquet", "json"]


def write_table(rows: pa.Table, path: Path, fmt: Format) -> None:
    """Parquet (zstd), CSV with a header, or JSON lines (decimals and times as strings, exact)."""
    if fmt == "parquet":
        pq.write_table(rows, path, compression="zstd")
    elif fmt == "csv":
        pacsv.write_csv(rows, path)
    else:
        with path.open("w") as fh:
            for row in rows.to_pylist():
                fh.write(json.dumps(row, default=str, ensure_ascii=False) + "\n")
