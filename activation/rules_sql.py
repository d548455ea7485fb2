"""The lake engine: a segment rule compiled to a DuckDB expression over the `profiles` view
(lakehouse/tables.py), reading the same stored document the real-time engine reads (activation/evaluate.py),
as of the lakehouse's `as_of()`. Pure: text in, text out.

The document column holds the profile as relaxed Extended JSON (sync/convert.py): money as
`{"$numberDecimal": "12.30"}`, times as `{"$date": "2026-11-20T10:00:00.123Z"}`.
"""

from __future__ import annotations

from decimal import Decimal

from activation.rules import All, Condition, Fact, Node, Not

_TODAY = "CAST(timezone('UTC', as_of()) AS DATE)"
_SQL_OPS = {"==": "=", "!=": "<>", "<": "<", "<=": "<=", ">": ">", ">=": ">="}


def rule_sql(node: Node) -> str:
    """A boolean expression, never null: a condition on a null fact is false, as in the real-time engine."""
    if isinstance(node, Condition):
        return condition_sql(node)
    if isinstance(node, Not):
        return f"(NOT {rule_sql(node.not_)})"
    joiner = " AND " if isinstance(node, All) else " OR "
    return (
        "("
        + joiner.join(rule_sql(child) for child in (node.all if isinstance(node, All) else node.any))
        + ")"
    )


def condition_sql(condition: Condition) -> str:
    return (
        f"coalesce(({fact_sql(condition.fact)}) {_SQL_OPS[condition.op]} {_literal(condition.value)}, false)"
    )


def fact_sql(fact: Fact) -> str:
    """The fact's value per row of `profiles`; names are validated identifiers (activation/rules.py)."""
    name = fact.name
    match fact.kind:
        case "count":
            return _window_sum(
                f"TRY_CAST(json_extract(document, '$.daily.\"' || k || '\".n.{name}') AS BIGINT)", fact
            )
        case "volume":
            value = "json_extract_string(document, '$.daily.\"' || k || '\".tx.vol.\"$numberDecimal\"')"
            return _window_sum(f"TRY_CAST({value} AS DECIMAL(38, 6))", fact, zero="CAST(0 AS DECIMAL(38, 6))")
        case "days_since":
            last = f"TRY_CAST(json_extract_string(document, '$.last.{name}.\"$date\"') AS TIMESTAMPTZ)"
            return f"floor((epoch_ms(as_of()) - epoch_ms({last})) / 86400000.0)"
        case "lifetime_count":
            return f"stat_count(stats, '{name}')"
        case "lifetime_amount":
            return f"stat_amount(stats, '{name}')"
        case "consent":
            path = f"'$.consent.{name}.value'"
            return (
                f"CASE WHEN json_type(document, {path}) = 'BOOLEAN' "
                f"THEN json_extract_string(document, {path}) = 'true' END"
            )
        case "has_identifier":
            return f"has_identifier(identifiers, '{name}')"
    raise ValueError(f"unknown fact {fact.kind}")


def _window_sum(value: str, fact: Fact, zero: str = "0") -> str:
    """The sum of `value` over the day buckets (keys `k`) of the fact's window ending today (UTC)."""
    first = f"strftime({_TODAY} - {fact.days - 1 if fact.days else 0}, '%Y-%m-%d')"
    last = f"strftime({_TODAY}, '%Y-%m-%d')"
    days = "coalesce(json_keys(document, '$.daily'), [])"
    terms = f"[coalesce({value}, {zero}) FOR k IN {days} IF k BETWEEN {first} AND {last}]"
    return f"coalesce(list_sum({terms}), {zero})"


def _literal(value: int | Decimal | bool | str) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    return str(value)
