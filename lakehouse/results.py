"""A query result that runs only when asked for, in the form asked for (Arrow or Polars)."""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import polars as pl
import pyarrow as pa


@dataclass(frozen=True)
class LazyResult:
    con: duckdb.DuckDBPyConnection
    sql: str

    def to_arrow(self) -> pa.Table:
        return self.con.sql(self.sql).to_arrow_table()

    def to_polars(self) -> pl.DataFrame:
        return self.con.sql(self.sql).pl()
