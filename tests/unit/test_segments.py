"""Segment definitions and their SQL, without a database: validation and what the compiled SQL does,
checked by running it on a tiny in-memory DuckDB with hand-written rows."""

from __future__ import annotations

import duckdb
import pytest
from pydantic import ValidationError

from lakehouse.segments import Segment, SegmentFile, audience_sql, members_sql, memberships_sql


def _con() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute(
        "CREATE TABLE profiles AS SELECT * FROM (VALUES ('p1', 10), ('p2', 3), ('p3', 7)) t(profile_id, n)"
    )
    con.execute(
        """CREATE TABLE events AS SELECT * FROM (VALUES
        ('p1', TIMESTAMPTZ '2026-01-01 00:00:00+00', 'e1', '{"marketing_consent": true}'),
        ('p1', TIMESTAMPTZ '2026-02-01 00:00:00+00', 'e2', '{"marketing_consent": false}'),
        ('p3', TIMESTAMPTZ '2026-01-01 00:00:00+00', 'e3', '{"marketing_consent": false}'),
        ('p3', TIMESTAMPTZ '2026-03-01 00:00:00+00', 'e4', '{"marketing_consent": true}'),
        ('p3', TIMESTAMPTZ '2026-04-01 00:00:00+00', 'e5', '{"marketing_consent": "yes"}'),
        ('p2', TIMESTAMPTZ '2026-01-01 00:00:00+00', 'e6', '{}'),
        ('gone', TIMESTAMPTZ '2026-01-01 00:00:00+00', 'e7', '{}')
        ) t(profile_id, occurred_at, event_id, attributes)"""
    )
    return con


def _ids(con: duckdb.DuckDBPyConnection, sql: str) -> set[str]:
    return {row[0] for row in con.sql(sql).fetchall()}


def test_where_and_query_segments_select_live_profiles_once() -> None:
    con = _con()
    assert _ids(con, members_sql(Segment(name="many", where="n >= 7"))) == {"p1", "p3"}
    query = Segment(name="active", query="SELECT profile_id FROM events")  # duplicates and a dead id
    assert _ids(con, members_sql(query)) == {"p1", "p2", "p3"}
    assert con.sql(f"SELECT count(*) FROM ({members_sql(query)})").fetchall() == [(3,)]


def test_marketing_audience_keeps_only_latest_boolean_consent_true() -> None:
    con = _con()
    everyone = "n > 0"
    # p1 withdrew (latest false); p3's latest boolean is true (the later "yes" is not a boolean);
    # p2 never said anything: no consent.
    assert _ids(con, audience_sql(Segment(name="m", marketing=True, where=everyone))) == {"p3"}
    assert _ids(con, audience_sql(Segment(name="s", where=everyone))) == {"p1", "p2", "p3"}


def test_memberships_lists_sorted_segment_names_per_profile() -> None:
    segments = [Segment(name="zeta", where="n > 5"), Segment(name="alpha", where="n < 8")]
    got = dict(_con().sql(memberships_sql(segments)).fetchall())
    assert got == {"p1": ["zeta"], "p2": ["alpha"], "p3": ["alpha", "zeta"]}


def test_definitions_are_validated() -> None:
    with pytest.raises(ValidationError, match="exactly one of"):
        Segment(name="both", where="true", query="SELECT 1")
    with pytest.raises(ValidationError, match="exactly one of"):
        Segment(name="neither")
    with pytest.raises(ValidationError, match="pattern"):
        Segment(name="Bad Name", where="true")
    with pytest.raises(ValidationError, match="unique"):
        SegmentFile(segments=[Segment(name="a", where="true"), Segment(name="a", where="false")])
