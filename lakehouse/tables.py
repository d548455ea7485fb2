"""The lake as query engines see it: one call gives DuckDB views or Polars LazyFrames over the Delta tables.

DuckDB's `delta` extension cannot be installed offline, so each table is opened with delta-rs, which
says which Parquet files make up the version read, and DuckDB reads those files with its own Parquet
reader (projections and filters pushed down, partition columns from the `col=value` directories). Not
through an Arrow dataset: delta-rs 1.6's MERGE and DELETE write string columns with an embedded Arrow
schema of `string_view`, and pyarrow 26 then fails every filter on them ("Function 'equal' has no kernel
matching input types (string, string_view)"; delta-io/delta-rs#4579), so a profile id in a WHERE broke
once profiles_current had been merged into. Polars scans the same opened tables with its own Parquet
reader (`scan_delta`): through an Arrow dataset it read every column of every row group in one thread,
1.3 s for a 1M-profile segment against 0.3 s in DuckDB.

On an object store DuckDB cannot read the files itself (its httpfs extension downloads at INSTALL time,
which these deployments cannot count on), so each table is Arrow datasets over the same files through
pyarrow's own S3 filesystem, registered in DuckDB. Two per table: the files appends wrote, with plain
strings, declared `string`, so that DuckDB pushes projections and filters into them (it pushes no filter
into a dataset with any `string_view` column); and the MERGE and DELETE files above, declared
`string_view` (a filter on them would fail as it does locally), projections only. Each file's footer says
which it is (`split_by_strings`). Polars reads the object store natively (`scan_delta`).

Views (the same names in both engines):
    profile_changes   every change of every profile (append-only history)
    profiles_current  the latest row of every profile id, merged-away ids included (`merged_into` set)
    profiles          live profiles only: what the operational API serves
    identity_changes  merges with their evidence
    events            canonical events, `profile_id` resolved to the profile that holds them now
    sync_errors       changes the sync could not convert, with the reason and the original document
    customer_360 ...  the customer 360 views over live profiles (DuckDB only; lakehouse/customer_views.py)
Rows the sync marked with `sync_error` appear only in `sync_errors`.

Macros for segment predicates and analyses: `as_of()` (the time the lake is read as of: a past time
travels the tables back to the versions committed by then), `stat_count(stats, type)`,
`stat_amount(stats, type)` and `has_identifier(identifiers, type)`.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from urllib.parse import unquote

import duckdb
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
from deltalake import DeltaTable
from deltalake.exceptions import DeltaError, TableNotFoundError

from c360.storage import Location
from lakehouse.customer_views import create_customer_views
from profiles.offers import OfferRules, load_offer_rules
from sync.delta_target import open_table
from sync.tables import ALL_TABLES, PROFILES_CURRENT, Table

_HIVE_TYPES = {pa.date32(): "DATE"}  # partition columns' types, as DuckDB names them
_VIEWS = """
CREATE VIEW profile_changes AS SELECT * FROM raw_profile_changes WHERE sync_error IS NULL{kept};
CREATE VIEW profiles_current AS SELECT * FROM raw_profiles_current WHERE sync_error IS NULL{kept};
CREATE VIEW profiles AS SELECT * FROM profiles_current WHERE merged_into IS NULL;
CREATE VIEW identity_changes AS SELECT * FROM raw_identity_changes WHERE sync_error IS NULL{kept_survivor};
CREATE VIEW events AS
    SELECT e.* REPLACE (coalesce(r.merged_into, e.profile_id) AS profile_id)
    FROM raw_events e
    LEFT JOIN (SELECT profile_id, merged_into FROM profiles_current WHERE merged_into IS NOT NULL) r
        ON e.profile_id = r.profile_id
    WHERE e.sync_error IS NULL{kept_event};
CREATE VIEW sync_errors AS
    SELECT 'profile_changes' AS "table", profile_id AS "key", operation, change_time, sync_error, document
        FROM raw_profile_changes WHERE sync_error IS NOT NULL
    UNION ALL SELECT 'identity_changes', change_id, operation, change_time, sync_error, document
        FROM raw_identity_changes WHERE sync_error IS NOT NULL
    UNION ALL SELECT 'events', event_id, operation, change_time, sync_error, document
        FROM raw_events WHERE sync_error IS NOT NULL;
"""
_MACROS = """
CREATE MACRO stat_count(stats, t) AS coalesce(list_sum([s.count FOR s IN stats IF s.type = t]), 0);
CREATE MACRO stat_amount(stats, t) AS coalesce(list_sum([s.amount FOR s IN stats IF s.type = t]), 0);
CREATE MACRO has_identifier(ids, t) AS len([i FOR i IN ids IF i.type = t]) > 0;
"""
VIEWS = ("profile_changes", "profiles_current", "profiles", "identity_changes", "events", "sync_errors")


@dataclass(frozen=True)
class Lakehouse:
    """The Delta tables under one lake location, read as of `as_of` (default: when first touched)."""

    lake: Location
    as_of: datetime = field(default_factory=lambda: datetime.now(UTC))
    travel: bool = False  # read the table versions committed by `as_of`, not the latest
    offer_rules: OfferRules | None = None  # next_best_offer_signals' rules; None: operational/offers.yaml

    @cached_property
    def deltas(self) -> dict[str, DeltaTable | None]:
        """Each table at the version read (None: not synced yet, or not by `as_of`)."""
        return {table.name: self._open(table) for table in ALL_TABLES}

    def duckdb(self) -> duckdb.DuckDBPyConnection:
        """A new in-memory DuckDB connection with every view of the module docstring."""
        con = duckdb.connect()
        con.execute("SET TimeZone = 'UTC'")
        for table in ALL_TABLES:
            _register(con, f"raw_{table.name}", table, self.deltas[table.name], self.lake)
        con.execute(_VIEWS.format(**self._erased_filters(con)))
        con.execute(_MACROS)
        con.execute(f"CREATE MACRO as_of() AS TIMESTAMPTZ '{self.as_of.astimezone(UTC).isoformat()}'")
        create_customer_views(con, self.offer_rules or load_offer_rules())
        return con

    def _erased_filters(self, con: duckdb.DuckDBPyConnection) -> dict[str, str]:
        """Reading the past, leave out the people erased since: their rows stay in the files older
        versions read until a vacuum (docs/LAKEHOUSE.md), and a re-export of an earlier date must not
        bring them back. Erased profiles are the ones the latest profiles_current no longer has (merged
        ones keep their row there)."""
        if not self.travel:
            return {"kept": "", "kept_survivor": "", "kept_event": ""}
        latest = Lakehouse(self.lake)._open(PROFILES_CURRENT)  # this table only, at its newest version
        _register(con, "raw_kept_profiles", PROFILES_CURRENT, latest, self.lake)
        kept = "SELECT profile_id FROM raw_kept_profiles"
        return {
            "kept": f" AND profile_id IN ({kept})",
            "kept_survivor": f" AND survivor IN ({kept})",
            "kept_event": f" AND e.profile_id IN ({kept})",
        }

    def polars(self) -> dict[str, pl.LazyFrame]:
        """The same views as Polars LazyFrames."""
        raw = {table.name: self._frame(table) for table in ALL_TABLES}
        ok = pl.col("sync_error").is_null()
        current = raw["profiles_current"].filter(ok)
        redirects = current.filter(pl.col("merged_into").is_not_null()).select(
            "profile_id", pl.col("merged_into").alias("_survivor")
        )
        events = (
            raw["events"]
            .filter(ok)
            .join(redirects, on="profile_id", how="left")
            .with_columns(pl.coalesce("_survivor", "profile_id").alias("profile_id"))
            .drop("_survivor")
        )
        errors = pl.concat(
            [
                raw[name]
                .filter(~ok)
                .select(
                    pl.lit(name).alias("table"),
                    pl.col(key).alias("key"),
                    "operation",
                    "change_time",
                    "sync_error",
                    "document",
                )
                for name, key in (
                    ("profile_changes", "profile_id"),
                    ("identity_changes", "change_id"),
                    ("events", "event_id"),
                )
            ]
        )
        return {
            "profile_changes": raw["profile_changes"].filter(ok),
            "profiles_current": current,
            "profiles": current.filter(pl.col("merged_into").is_null()),
            "identity_changes": raw["identity_changes"].filter(ok),
            "events": events,
            "sync_errors": errors,
        }

    def _open(self, table: Table) -> DeltaTable | None:
        try:
            delta = open_table(self.lake.child(table.name))
            if self.travel:
                delta.load_as_version(self.as_of)
        except (TableNotFoundError, DeltaError):
            return None
        return delta

    def _frame(self, table: Table) -> pl.LazyFrame:
        delta = self.deltas[table.name]
        if delta is None:
            return pl.from_arrow(pa.Table.from_pylist([], table.schema)).lazy()
        return pl.scan_delta(delta)


def _register(
    con: duckdb.DuckDBPyConnection, view: str, table: Table, delta: DeltaTable | None, lake: Location
) -> None:
    """`view`: the files of `delta`'s version, in the table's column order (a file written before a
    column existed reads it as NULL); an empty table of the shape when there are none."""
    files = [] if delta is None else delta.file_uris()
    if not files:
        con.register(view, pa.Table.from_pylist([], table.schema))
        return
    if not lake.is_local:
        plain, viewed = split_by_strings(table, files_dataset(table, delta, lake))
        con.register(f"{view}_plain", plain)
        con.register(f"{view}_viewed", viewed)
        con.execute(f"CREATE VIEW {view} AS SELECT * FROM {view}_plain UNION ALL SELECT * FROM {view}_viewed")
        return
    listed = ", ".join("'" + f.replace("'", "''") + "'" for f in files)
    hive = ", ".join(f"'{c}': {_HIVE_TYPES[table.schema.field(c).type]}" for c in table.partition_by)
    options = f"union_by_name = true, hive_partitioning = {bool(hive)}" + (
        f", hive_types = {{{hive}}}" if hive else ""
    )
    columns = ", ".join(f'"{name}"' for name in table.schema.names)
    con.execute(f"CREATE VIEW {view} AS SELECT {columns} FROM read_parquet([{listed}], {options})")


def files_dataset(
    table: Table, delta: DeltaTable, lake: Location, only: frozenset[str] | None = None
) -> ds.Dataset:
    """An Arrow dataset over the files of `delta`'s version on an object store (see the module
    docstring), or over those of them named in `only` (paths as the Delta log has them). Each file's
    size and partition values come from the Delta log, so opening the dataset costs no request per file."""
    schema = pa.schema([f.with_type(_as_view(f.type)) for f in table.schema])
    actions = pa.table(delta.get_add_actions(flatten=True))
    if only is not None:
        actions = actions.filter(pc.is_in(actions.column("path"), pa.array(sorted(only), pa.string())))
    partitions = [actions.column(f"partition.{c}").to_pylist() for c in table.partition_by]
    root = lake.arrow_path(lake.child(table.name).uri)
    filesystem, parquet = lake.arrow_filesystem(), ds.ParquetFileFormat()
    fragments = [
        parquet.make_fragment(
            f"{root}/{unquote(path)}",
            filesystem,
            _equal(table.partition_by, [values[i] for values in partitions], schema),
            file_size=size,
        )
        for i, (path, size) in enumerate(
            zip(actions.column("path").to_pylist(), actions.column("size_bytes").to_pylist(), strict=True)
        )
    ]
    return ds.FileSystemDataset(fragments, schema, parquet, filesystem)


def split_by_strings(table: Table, dataset: ds.FileSystemDataset) -> tuple[ds.Dataset, ds.Dataset]:
    """`dataset`'s files in two datasets: those written with plain strings, declared `string` (DuckDB
    pushes filters into an Arrow dataset only when no column is `string_view`: row groups and files are
    then skipped on their statistics), and those delta-rs's MERGE and DELETE wrote with `string_view`,
    declared so (pyarrow cannot test a string filter against their statistics; DuckDB pushes none). Which
    is which, each file's footer says; it is read once per file and process (Delta files never change),
    in parallel."""
    fragments = list(dataset.get_fragments())
    if len(_VIEW_FILES) > _VIEW_FILES_MAX:
        _VIEW_FILES.clear()
    unknown = [f for f in fragments if f.path not in _VIEW_FILES]
    with ThreadPoolExecutor(max_workers=16) as pool:  # one request each; pyarrow releases the GIL
        for fragment, views in zip(unknown, pool.map(_writes_views, unknown), strict=True):
            _VIEW_FILES[fragment.path] = views
    plain = [f for f in fragments if not _VIEW_FILES[f.path]]
    viewed = [f for f in fragments if _VIEW_FILES[f.path]]
    return (
        ds.FileSystemDataset(plain, table.schema, dataset.format, dataset.filesystem),
        ds.FileSystemDataset(viewed, dataset.schema, dataset.format, dataset.filesystem),
    )


_VIEW_FILES: dict[str, bool] = {}  # file path -> written with string_view columns
_VIEW_FILES_MAX = 1_000_000  # paths remembered at most (then forgotten at once and read again)


def _writes_views(fragment: ds.Fragment) -> bool:
    return any(_has_view(f.type) for f in fragment.physical_schema)


def _has_view(kind: pa.DataType) -> bool:
    """Whether `kind` holds a `string_view`, nested ones included."""
    if pa.types.is_string_view(kind):
        return True
    if pa.types.is_list(kind):
        return _has_view(kind.value_type)
    return pa.types.is_struct(kind) and any(_has_view(f.type) for f in kind)


def _equal(columns: tuple[str, ...], values: list[object], schema: pa.Schema) -> ds.Expression:
    """What a file's partition values say of each of its rows."""
    expression = ds.scalar(True)
    for column, value in zip(columns, values, strict=True):
        kind = schema.field(column).type
        expression &= (
            ds.field(column).is_null() if value is None else ds.field(column) == pa.scalar(value, kind)
        )
    return expression


def _as_view(kind: pa.DataType) -> pa.DataType:
    """`kind` with every string in it, nested ones included, as `string_view`."""
    if pa.types.is_string(kind):
        return pa.string_view()
    if pa.types.is_list(kind):
        return pa.list_(kind.value_field.with_type(_as_view(kind.value_type)))
    if pa.types.is_struct(kind):
        return pa.struct([f.with_type(_as_view(f.type)) for f in kind])
    return kind
