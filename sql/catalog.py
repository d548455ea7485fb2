"""What PostgreSQL clients ask before they query: an emulated `pg_catalog`, and client SQL made DuckDB's.

psql's `\\d`, JDBC's `DatabaseMetaData` and BI tools read pg_catalog (pg_class, pg_attribute, pg_type...)
with PostgreSQL's functions and casts (`pg_table_is_visible`, `format_type`, `'pg_class'::regclass`,
`OPERATOR(pg_catalog.~)`). DuckDB's own pg_catalog answers only part of that, so the endpoint keeps one
of its own, schema `c360_pg`, describing the views it serves (schema `public`), and `to_duckdb` points
every `pg_catalog.` name there and rewrites the few constructs DuckDB parses differently. Statements that
change nothing a client can see (`SET`, `BEGIN`, `DISCARD`...) are answered by the session instead
(`local_command`); information_schema is DuckDB's own.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import duckdb

from sql.encoding import ARRAYS, field_of

SCHEMA = "c360_pg"
PUBLIC_OID, CATALOG_OID, FIRST_OID = 2200, 11, 16384
SERVER_VERSION = "15.0"
# The types the catalog describes: (oid, name, length, category); arrays follow from ARRAYS.
_TYPES = [
    (16, "bool", 1, "B"), (17, "bytea", -1, "U"), (19, "name", 64, "S"), (20, "int8", 8, "N"),
    (21, "int2", 2, "N"), (23, "int4", 4, "N"), (25, "text", -1, "S"), (26, "oid", 4, "N"),
    (114, "json", -1, "U"), (700, "float4", 4, "N"), (701, "float8", 8, "N"), (705, "unknown", -2, "X"),
    (1043, "varchar", -1, "S"), (1082, "date", 4, "D"), (1083, "time", 8, "D"),
    (1114, "timestamp", 8, "D"), (1184, "timestamptz", 8, "D"), (1186, "interval", 16, "T"),
    (1700, "numeric", -1, "N"), (2950, "uuid", 16, "U"),
]  # fmt: skip
# How format_type() shows them, as PostgreSQL does.
_SHOWN = ", ".join(
    f"('{name}', '{shown}')"
    for name, shown in (
        ("bool", "boolean"), ("int8", "bigint"), ("int2", "smallint"), ("int4", "integer"),
        ("float4", "real"), ("float8", "double precision"), ("varchar", "character varying"),
        ("time", "time without time zone"), ("timestamp", "timestamp without time zone"),
        ("timestamptz", "timestamp with time zone"),
    )
)  # fmt: skip
_EMPTY = {
    "pg_description": "objoid BIGINT, classoid BIGINT, objsubid INTEGER, description VARCHAR",
    "pg_attrdef": "oid BIGINT, adrelid BIGINT, adnum INTEGER, adbin VARCHAR",
    "pg_index": "indexrelid BIGINT, indrelid BIGINT, indnatts INTEGER, indkey INTEGER[], "
    "indisprimary BOOLEAN, "
    "indisunique BOOLEAN, indisvalid BOOLEAN, indisclustered BOOLEAN, indisreplident BOOLEAN, "
    "indpred VARCHAR, indexprs VARCHAR, indimmediate BOOLEAN, indoption INTEGER[]",
    "pg_inherits": "inhrelid BIGINT, inhparent BIGINT, inhseqno INTEGER, inhdetachpending BOOLEAN",
    "pg_constraint": "oid BIGINT, conname VARCHAR, connamespace BIGINT, contype VARCHAR, conrelid BIGINT, "
    "confrelid BIGINT, conkey INTEGER[], confkey INTEGER[], condeferrable BOOLEAN, condeferred BOOLEAN, "
    "convalidated BOOLEAN, conindid BIGINT, confupdtype VARCHAR, confdeltype VARCHAR, conparentid BIGINT",
    "pg_proc": "oid BIGINT, proname VARCHAR, pronamespace BIGINT, prorettype BIGINT, proargtypes VARCHAR, "
    "proargnames VARCHAR[], proargmodes VARCHAR[], proallargtypes BIGINT[], prokind VARCHAR, "
    "proretset BOOLEAN",
    "pg_collation": "oid BIGINT, collname VARCHAR, collnamespace BIGINT",
    "pg_policy": "oid BIGINT, polname VARCHAR, polrelid BIGINT, polcmd VARCHAR, polpermissive BOOLEAN, "
    "polroles BIGINT[], polqual VARCHAR, polwithcheck VARCHAR",
    "pg_rewrite": "oid BIGINT, rulename VARCHAR, ev_class BIGINT, ev_type VARCHAR, is_instead BOOLEAN",
    "pg_trigger": "oid BIGINT, tgname VARCHAR, tgrelid BIGINT, tgisinternal BOOLEAN, tgenabled VARCHAR, "
    "tgparentid BIGINT",
    "pg_statistic_ext": "oid BIGINT, stxname VARCHAR, stxrelid BIGINT, stxnamespace BIGINT, "
    "stxkind VARCHAR[], "
    "stxkeys INTEGER[], stxstattarget INTEGER",
    "pg_publication": "oid BIGINT, pubname VARCHAR, puballtables BOOLEAN",
    "pg_publication_rel": "oid BIGINT, prpubid BIGINT, prrelid BIGINT, prqual VARCHAR, prattrs INTEGER[]",
    "pg_publication_namespace": "oid BIGINT, pnpubid BIGINT, pnnspid BIGINT",
    "pg_foreign_table": "ftrelid BIGINT, ftserver BIGINT, ftoptions VARCHAR[]",
    "pg_partitioned_table": "partrelid BIGINT, partstrat VARCHAR",
    "pg_depend": "classid BIGINT, objid BIGINT, objsubid INTEGER, refclassid BIGINT, refobjid BIGINT, "
    "refobjsubid INTEGER, deptype VARCHAR",
    "pg_enum": "oid BIGINT, enumtypid BIGINT, enumsortorder DOUBLE, enumlabel VARCHAR",
    "pg_range": "rngtypid BIGINT, rngsubtype BIGINT",
    "pg_extension": "oid BIGINT, extname VARCHAR, extversion VARCHAR, extnamespace BIGINT",
    "pg_tablespace": "oid BIGINT, spcname VARCHAR",
}
_FUNCTIONS = f"""
CREATE MACRO {SCHEMA}.pg_get_userbyid(o) AS 'c360';
CREATE MACRO {SCHEMA}.pg_table_is_visible(o) AS true;
CREATE MACRO {SCHEMA}.pg_type_is_visible(o) AS true;
CREATE MACRO {SCHEMA}.pg_function_is_visible(o) AS true;
CREATE MACRO {SCHEMA}.pg_get_expr(e, r) AS NULL::VARCHAR, (e, r, p) AS NULL::VARCHAR;
CREATE MACRO {SCHEMA}.obj_description(o) AS NULL::VARCHAR, (o, c) AS NULL::VARCHAR;
CREATE MACRO {SCHEMA}.col_description(o, n) AS NULL::VARCHAR;
CREATE MACRO {SCHEMA}.shobj_description(o, c) AS NULL::VARCHAR;
CREATE MACRO {SCHEMA}.pg_encoding_to_char(e) AS 'UTF8';
CREATE MACRO {SCHEMA}.current_schemas(i) AS ['public'];
CREATE MACRO {SCHEMA}.current_schema() AS 'public';
CREATE MACRO {SCHEMA}.has_table_privilege(a, b) AS true, (a, b, c) AS true;
CREATE MACRO {SCHEMA}.has_schema_privilege(a, b) AS true, (a, b, c) AS true;
CREATE MACRO {SCHEMA}.pg_get_viewdef(o) AS NULL::VARCHAR, (o, p) AS NULL::VARCHAR;
CREATE MACRO {SCHEMA}.pg_get_indexdef(o) AS NULL::VARCHAR, (o, c, p) AS NULL::VARCHAR;
CREATE MACRO {SCHEMA}.pg_get_constraintdef(o) AS NULL::VARCHAR, (o, p) AS NULL::VARCHAR;
CREATE MACRO {SCHEMA}.pg_get_statisticsobjdef_columns(o) AS NULL::VARCHAR;
CREATE MACRO {SCHEMA}.pg_relation_size(o) AS 0::BIGINT;
CREATE MACRO {SCHEMA}.pg_total_relation_size(o) AS 0::BIGINT;
CREATE MACRO {SCHEMA}.pg_size_pretty(s) AS s || ' bytes';
CREATE MACRO {SCHEMA}.version() AS 'PostgreSQL {SERVER_VERSION} (c360 SQL endpoint over DuckDB)';
CREATE MACRO {SCHEMA}.quote_ident(s) AS '"' || replace(s, '"', '""') || '"';
CREATE MACRO {SCHEMA}.format_type(t, m) AS (
    SELECT CASE WHEN t = 1700 AND m > 4 THEN 'numeric(' || ((m - 4) >> 16) || ',' || ((m - 4) & 65535) || ')'
                ELSE coalesce(any_value(shown), '???') END
    FROM {SCHEMA}.c360_type_names WHERE oid = t);
CREATE MACRO {SCHEMA}.array_upper(a, d) AS len(a);
CREATE MACRO {SCHEMA}.array_lower(a, d) AS 1;
CREATE MACRO {SCHEMA}.pg_get_keywords() AS TABLE SELECT NULL::VARCHAR AS word, NULL::VARCHAR AS catcode
    WHERE false;
"""


@dataclass(frozen=True)
class Relation:
    """A view the endpoint serves, with its columns as (name, DuckDB type)."""

    oid: int
    name: str
    columns: list[tuple[str, str]]


def served_relations(con: duckdb.DuckDBPyConnection, names: tuple[str, ...]) -> list[Relation]:
    return [
        Relation(FIRST_OID + i, name, [(str(c), str(t)) for c, t in zip(*_shape(con, name), strict=True)])
        for i, name in enumerate(names)
    ]


def _shape(con: duckdb.DuckDBPyConnection, name: str) -> tuple[list[str], list[object]]:
    relation = con.sql(f"SELECT * FROM {name} LIMIT 0")
    return relation.columns, relation.types


def install_catalog(con: duckdb.DuckDBPyConnection, relations: list[Relation]) -> None:
    """Schema `public` with the served views, and schema c360_pg describing them PostgreSQL's way."""
    con.execute(f"CREATE SCHEMA IF NOT EXISTS public; CREATE SCHEMA {SCHEMA}")
    for r in relations:
        con.execute(f"CREATE VIEW public.{r.name} AS SELECT * FROM main.{r.name}")
    con.execute(
        f"CREATE TABLE {SCHEMA}.pg_namespace AS SELECT * FROM (VALUES "
        f"({CATALOG_OID}, 'pg_catalog', 10, NULL), ({PUBLIC_OID}, 'public', 10, NULL), "
        f"(13000, 'information_schema', 10, NULL)) t(oid, nspname, nspowner, nspacl)"
    )
    con.execute(
        f"""CREATE TABLE {SCHEMA}.pg_class AS SELECT oid::BIGINT AS oid, relname, {PUBLIC_OID}::BIGINT AS
        relnamespace, 'v' AS relkind, 10::BIGINT AS relowner, 0::BIGINT AS relam, -1.0::FLOAT AS reltuples,
        false AS relhasindex, false AS relhasrules, false AS relhastriggers, false AS relrowsecurity,
        false AS relforcerowsecurity, false AS relispartition, false AS relhassubclass, 0::BIGINT AS
        reltablespace, 0::BIGINT AS reloftype, 'p' AS relpersistence, 'n' AS relreplident,
        0::BIGINT AS reltoastrelid, 0 AS relchecks, NULL::VARCHAR[] AS reloptions, NULL::VARCHAR[] AS relacl,
        NULL::VARCHAR AS relpartbound, natts::INTEGER AS relnatts, 0::BIGINT AS reltype, 0 AS relpages
        FROM (VALUES {", ".join(f"({r.oid}, '{r.name}', {len(r.columns)})" for r in relations)})
        t(oid, relname, natts)"""
    )
    attributes = [
        (r.oid, name, f.oid, i + 1, f.modifier, f.size)
        for r in relations
        for i, (name, kind) in enumerate(r.columns)
        for f in [field_of(name, kind)]
    ]
    con.execute(
        f"""CREATE TABLE {SCHEMA}.pg_attribute (attrelid BIGINT, attname VARCHAR, atttypid BIGINT,
        attnum INTEGER, atttypmod INTEGER, attlen INTEGER, attnotnull BOOLEAN DEFAULT false,
        attisdropped BOOLEAN DEFAULT false, atthasdef BOOLEAN DEFAULT false, attidentity VARCHAR DEFAULT '',
        attgenerated VARCHAR DEFAULT '', attcollation BIGINT DEFAULT 0, attndims INTEGER DEFAULT 0,
        attstattarget INTEGER DEFAULT -1, attoptions VARCHAR[], attfdwoptions VARCHAR[])"""
    )
    con.executemany(
        f"INSERT INTO {SCHEMA}.pg_attribute (attrelid, attname, atttypid, attnum, atttypmod, attlen) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        attributes,
    )
    arrays = {array: element for element, array in ARRAYS.items()}
    names = {oid: name for oid, name, _, _ in _TYPES}
    types = [(oid, name, length, cat, 0, next((a for e, a in ARRAYS.items() if e == oid), 0))
             for oid, name, length, cat in _TYPES]  # fmt: skip
    types += [(a, "_" + names[e], -1, "A", e, 0) for a, e in arrays.items() if e in names]
    con.execute(
        f"""CREATE TABLE {SCHEMA}.pg_type (oid BIGINT, typname VARCHAR, typlen INTEGER, typcategory VARCHAR,
        typelem BIGINT, typarray BIGINT, typnamespace BIGINT DEFAULT {CATALOG_OID},
        typtype VARCHAR DEFAULT 'b',
        typrelid BIGINT DEFAULT 0, typbasetype BIGINT DEFAULT 0, typtypmod INTEGER DEFAULT -1,
        typnotnull BOOLEAN DEFAULT false, typdelim VARCHAR DEFAULT ',', typowner BIGINT DEFAULT 10,
        typcollation BIGINT DEFAULT 0, typinput VARCHAR, typdefault VARCHAR, typndims INTEGER DEFAULT 0,
        typisdefined BOOLEAN DEFAULT true)"""
    )
    con.executemany(
        f"INSERT INTO {SCHEMA}.pg_type (oid, typname, typlen, typcategory, typelem, typarray, typinput) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        [(*t, "array_in" if t[3] == "A" else t[1] + "in") for t in types],
    )
    con.execute(
        f"CREATE TABLE {SCHEMA}.c360_type_names AS SELECT oid, coalesce(s.shown, "
        f"CASE WHEN typcategory = 'A' THEN (SELECT coalesce(any_value(e.shown), any_value(t.typname)) "
        f"FROM {SCHEMA}.pg_type t LEFT JOIN (VALUES {_SHOWN}) e(name, shown) ON e.name = t.typname "
        f"WHERE t.oid = p.typelem) || '[]' END, typname) AS shown "
        f"FROM {SCHEMA}.pg_type p LEFT JOIN (VALUES {_SHOWN}) s(name, shown) ON s.name = p.typname"
    )
    for name, columns in _EMPTY.items():
        con.execute(f"CREATE TABLE {SCHEMA}.{name} ({columns})")
    con.execute(
        f"""CREATE TABLE {SCHEMA}.pg_am AS SELECT 2::BIGINT AS oid, 'heap' AS amname, 't' AS amtype;
        CREATE TABLE {SCHEMA}.pg_roles AS SELECT 10::BIGINT AS oid, 'c360' AS rolname, false AS rolsuper,
            false AS rolinherit, false AS rolcreaterole, false AS rolcreatedb, true AS rolcanlogin,
            false AS rolreplication, -1 AS rolconnlimit, NULL::TIMESTAMPTZ AS rolvaliduntil,
            false AS rolbypassrls, NULL::VARCHAR[] AS rolconfig;
        CREATE VIEW {SCHEMA}.pg_user AS SELECT rolname AS usename, oid AS usesysid, false AS usesuper
            FROM {SCHEMA}.pg_roles;
        CREATE TABLE {SCHEMA}.pg_database AS SELECT 1::BIGINT AS oid, 'c360' AS datname, 10::BIGINT AS datdba,
            6 AS encoding, 'C' AS datcollate, 'C' AS datctype, true AS datallowconn, false AS datistemplate,
            -1 AS datconnlimit, NULL::VARCHAR[] AS datacl, 0::BIGINT AS dattablespace;
        CREATE TABLE {SCHEMA}.pg_settings AS SELECT * FROM (VALUES ('max_index_keys', '32'),
            ('max_identifier_length', '63'), ('server_version', '{SERVER_VERSION}'),
            ('standard_conforming_strings', 'on')) t(name, setting);
        CREATE VIEW {SCHEMA}.pg_tables AS SELECT 'public' AS schemaname, relname AS tablename,
            'c360' AS tableowner FROM {SCHEMA}.pg_class WHERE false;
        CREATE VIEW {SCHEMA}.pg_views AS SELECT 'public' AS schemaname, relname AS viewname,
            'c360' AS viewowner, NULL::VARCHAR AS definition FROM {SCHEMA}.pg_class;
        CREATE VIEW {SCHEMA}.pg_matviews AS SELECT 'public' AS schemaname, relname AS matviewname
            FROM {SCHEMA}.pg_class WHERE false"""
    )
    con.execute(_FUNCTIONS)


_STRING = r"'(?:[^']|'')*'"
_CLASS_LITERAL = re.compile(rf"({_STRING})\s*::\s*(?:pg_catalog\.)?regclass", re.IGNORECASE)
_REWRITES = [
    (re.compile(r"OPERATOR\s*\(\s*pg_catalog\.([~!*<>=]+)\s*\)", re.IGNORECASE), r"\1"),
    (re.compile(r"\s+COLLATE\s+pg_catalog\.\"?default\"?", re.IGNORECASE), ""),
    (re.compile(r"::\s*(?:pg_catalog\.)?(?:regtype|regproc|regnamespace|name|oid)\b", re.IGNORECASE),
     "::VARCHAR"),
    (re.compile(r"::\s*pg_catalog\.", re.IGNORECASE), "::"),
    (re.compile(r"(?<![\w.\"])pg_catalog\.", re.IGNORECASE), f"{SCHEMA}."),
    # Unqualified catalog tables (BI tools leave pg_catalog out): ours, not DuckDB's.
    (re.compile(r"(?<![\w.\"])(pg_(?:class|namespace|attribute|type|description|attrdef|index|inherits|"
                r"constraint|proc|roles|user|database|settings|am|collation|tables|views)\b)", re.IGNORECASE),
     rf"{SCHEMA}.\1"),
]  # fmt: skip


def to_duckdb(sql: str) -> str:
    """Client SQL with PostgreSQL-only constructs rewritten; string literals are left alone."""
    sql = _CLASS_LITERAL.sub(lambda m: f"(SELECT oid FROM {SCHEMA}.pg_class WHERE relname = {m[1]})", sql)
    pieces = re.split(f"({_STRING})", sql)
    for i in range(0, len(pieces), 2):  # the even pieces lie outside string literals
        for pattern, replacement in _REWRITES:
            pieces[i] = pattern.sub(replacement, pieces[i])
    return "".join(pieces)
