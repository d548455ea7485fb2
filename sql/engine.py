"""The endpoint's data: the customer 360 views over a `profile_state` table kept in step with the lake.

Two in-memory DuckDB databases hold the same views: one with personal data, one with it masked (a reader
without the pii grant gets a cursor on the masked one, so no query, however written, can reach the
unmasked values). `profile_state` follows the append-only `profile_changes` table: each refresh reads
only the files committed since the last one (their newest row per profile), parses them once and
replaces those profiles' rows in both databases in one transaction, so a query never sees half a
refresh, and profiles_current's periodic merge is not waited for. A compaction adds nothing new; any
other rewrite (an erasure's DELETE) reloads the whole table. Both databases then lock themselves: no file
access, no configuration changes.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime

import duckdb
import pyarrow as pa
from deltalake import DeltaTable
from deltalake.exceptions import DeltaError, TableNotFoundError

from c360.storage import Location
from lakehouse.customer_views import CUSTOMER_VIEWS, MASKED_STATE_SQL, create_customer_views, state_sql
from lakehouse.tables import files_dataset
from profiles.offers import OfferRules
from sql.catalog import install_catalog, served_relations
from sync.delta_target import open_table
from sync.tables import PROFILE_CHANGES

_APPENDS = frozenset({"WRITE", "OPTIMIZE", "CREATE TABLE"})  # operations that remove no row
_LATEST = """
SELECT * FROM c360_raw WHERE sync_error IS NULL AND operation <> 'delete'
QUALIFY row_number() OVER (PARTITION BY profile_id ORDER BY seq DESC) = 1
"""


class Engine:
    """Both databases and the lake they follow; `refresh()` brings them up to the newest commit."""

    def __init__(
        self, lake: Location, rules: OfferRules, clock: Callable[[], datetime] | None = None
    ) -> None:
        self.lake = lake
        self.version: int | None = None
        self._paths: set[str] = set()
        self._delta: DeltaTable | None = None
        self._lock = threading.Lock()
        self.databases = {pii: duckdb.connect() for pii in (True, False)}
        empty = pa.Table.from_pylist([], PROFILE_CHANGES.schema)
        as_of = "now()" if clock is None else f"TIMESTAMPTZ '{clock().astimezone(UTC).isoformat()}'"
        for con in self.databases.values():
            con.execute("SET TimeZone = 'UTC'")
            con.execute(f"CREATE MACRO as_of() AS {as_of}")
            con.register("c360_empty", empty)
            create_customer_views(con, rules, state="c360_empty")  # profile_state's shape, as a view first
            con.execute("CREATE TABLE c360_state AS SELECT * FROM profile_state WHERE false")
            con.execute(
                "CREATE OR REPLACE VIEW profile_state AS SELECT * FROM c360_state WHERE merged_into IS NULL"
            )
            con.unregister("c360_empty")
            install_catalog(con, served_relations(con, CUSTOMER_VIEWS))
            con.execute("SET enable_external_access = false; SET lock_configuration = true")

    def cursor(self, pii: bool) -> duckdb.DuckDBPyConnection:
        return self.databases[pii].cursor()

    def refresh(self) -> bool:
        """Read what the lake committed since the last refresh; True when something changed."""
        with self._lock:
            delta = self._open()
            if delta is None or delta.version() == self.version:
                return False
            version = delta.version()
            paths = set(pa.table(delta.get_add_actions(flatten=True)).column("path").to_pylist())
            reload = self.version is None or self._rewritten(delta, version)
            self._apply(delta, frozenset(paths if reload else paths - self._paths), reload)
            self._paths, self.version = paths, version
            return True

    def _open(self) -> DeltaTable | None:
        try:
            if self._delta is None:
                self._delta = open_table(self.lake.child(PROFILE_CHANGES.name))
            else:
                self._delta.update_incremental()
        except (TableNotFoundError, DeltaError):
            return None
        return self._delta

    def _rewritten(self, delta: DeltaTable, version: int) -> bool:
        assert self.version is not None
        history = delta.history(limit=version - self.version)
        return any(h.get("operation") not in _APPENDS for h in history)

    def _apply(self, delta: DeltaTable, new: frozenset[str], reload: bool) -> None:
        """Each profile's newest row among the `new` files, parsed once, into both databases. A row older
        than the one held changes nothing: a compaction's files hold rows already read."""
        full, masked = self.databases[True].cursor(), self.databases[False].cursor()
        full.register("c360_raw", files_dataset(PROFILE_CHANGES, delta, self.lake, only=new))
        full.register("c360_latest", full.sql(_LATEST).to_arrow_table())
        live = full.sql(state_sql("c360_latest")).to_arrow_table()
        masking = MASKED_STATE_SQL.format(source="c360_live")
        for cursor, query in ((full, "SELECT * FROM c360_live"), (masked, masking)):
            cursor.register("c360_live", live)
            cursor.execute("BEGIN")
            if reload:
                cursor.execute("DELETE FROM c360_state")
            cursor.execute(
                "DELETE FROM c360_state s USING c360_live l "
                "WHERE s.profile_id = l.profile_id AND s.seq < l.seq"
            )
            cursor.execute(
                f"INSERT INTO c360_state SELECT * FROM ({query}) l "
                "WHERE NOT EXISTS (SELECT 1 FROM c360_state s WHERE s.profile_id = l.profile_id)"
            )
            cursor.execute("COMMIT")
            cursor.close()
