"""Point-in-time training sets: each labelled row gets the profile's features as the lake knew them at the
label's time, never anything recorded later.

An as-of join over `profile_changes` (append-only, every version of every profile with its
`change_time`): for a label (profile id, time T) it takes the profile's last version changed at or
before T. If by then the profile had been merged away, that version is its redirect, and the features
come from the survivor's last version at or before T (redirects are rewritten to the final survivor
when survivors merge in turn, so one hop suffices). A merge after T is invisible: the label's own
profile at T holds only its own history. A label whose profile did not exist yet gets null features.

    features = training_set(Lakehouse(lake).duckdb(), labels, time_column="churned_at")
"""

from __future__ import annotations

import duckdb
import polars as pl
import pyarrow as pa

# Lifetime counts per event type, sums of money, recency: what profile_changes holds typed.
COUNTED_TYPES = ("transaction", "order", "login", "page_view", "email_sent", "email_opened",
                 "email_clicked", "ticket_open", "web_error")  # fmt: skip
MONEY_TYPES = ("transaction", "order")


def _known(expression: str, name: str) -> str:
    """Null, not zero, for a label without a profile version at its time."""
    return f"CASE WHEN f.profile_id IS NOT NULL THEN {expression} END AS {name}"


_FEATURES = ",\n    ".join(
    [
        "f.profile_id AS feature_profile_id",
        "f.change_time AS features_as_of",
        "f.event_count",
        "f.first_seen",
        "f.last_seen",
        "date_diff('day', f.last_seen, l.{time}) AS days_since_last_seen",
        "date_diff('day', f.first_seen, l.{time}) AS tenure_days",
        "len(f.identifiers) AS identifiers",
        "len(coalesce(f.merged_from, [])) AS profiles_merged_in",
        *(_known(f"stat_count(f.stats, '{t}')::BIGINT", f"{t}_count") for t in COUNTED_TYPES),
        *(_known(f"stat_amount(f.stats, '{t}')::DECIMAL(38, 6)", f"{t}_amount") for t in MONEY_TYPES),
    ]
)
_SQL = """
WITH labels AS (SELECT row_number() OVER () AS c360_label_row, * FROM c360_labels),
changes AS (SELECT * FROM profile_changes WHERE operation <> 'delete'),
own AS (
    SELECT l.c360_label_row, coalesce(c.merged_into, l.{id}) AS c360_resolved
    FROM labels l ASOF LEFT JOIN changes c ON l.{id} = c.profile_id AND l.{time} >= c.change_time
)
SELECT l.*, {features}
FROM labels l JOIN own o USING (c360_label_row)
ASOF LEFT JOIN changes f ON o.c360_resolved = f.profile_id AND l.{time} >= f.change_time
ORDER BY l.c360_label_row
"""


class LabelError(ValueError):
    """The labels lack a column the training set needs, or it has the wrong type."""


def training_set(
    con: duckdb.DuckDBPyConnection,
    labels: pa.Table | pl.DataFrame,
    time_column: str,
    id_column: str = "profile_id",
) -> pa.Table:
    """`labels` with each row's features at its time appended (the row order kept)."""
    table = labels.to_arrow() if isinstance(labels, pl.DataFrame) else labels
    for name in (id_column, time_column):
        if name not in table.column_names:
            raise LabelError(f"the labels have no column {name!r} (columns: {', '.join(table.column_names)})")
    kind = table.schema.field(time_column).type
    if not pa.types.is_timestamp(kind):
        raise LabelError(f"{time_column!r} must be a timestamp column, not {kind}")
    if kind.tz is None:  # a naive time is UTC, as everywhere in c360
        table = table.set_column(
            table.schema.get_field_index(time_column),
            time_column,
            table[time_column].cast(pa.timestamp(kind.unit, "UTC")),
        )
    cursor = con.cursor()
    cursor.register("c360_labels", table)
    quoted = {"id": f'"{id_column}"', "time": f'"{time_column}"'}
    sql = _SQL.format(features=_FEATURES.format(**quoted), **quoted)
    return cursor.sql(sql).to_arrow_table().drop_columns(["c360_label_row"])
