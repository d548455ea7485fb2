"""The customer 360 views, defined once for every reader of the lake: `c360 sql`, Python and the
PostgreSQL-protocol endpoint (sql/) run these same statements.

Two layers. `profile_state` is each live profile's stored document parsed into typed columns (day buckets,
holdings, tickets, retail counters, the timeline), nothing evaluated yet; it is a view over `profiles`
in `Lakehouse.duckdb()`, and a table the endpoint keeps up to date incrementally. The views on top
evaluate windows and derived fields as of `as_of()`: the time the lake is read as of in `c360 sql`, the
query's own time on the endpoint. Their definitions follow profiles/view.py, which computes the
same fields for the API, to the cent and the day (docs/LAKEHOUSE.md, "The customer 360 views"):

    customer_360             one row per live profile: the banking seed's columns, names and contacts
    next_best_offer_signals  churn signals, the offer facts and the offer the rules choose
    purchase_stats           the retail seed's orders, items and spend per profile
    popular_items            quantity bought per profile and SKU, ranked (rank <= 5 is the API's top_items)
    recent_activity          the latest 50 events per profile (the API's timeline)
    recent_errors            the latest 10 web errors per profile
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import duckdb

from profiles.offers import Condition, OfferRules
from profiles.view import ENGAGEMENT_WEIGHTS, TRAIT_PRECEDENCE

CUSTOMER_VIEWS = (
    "customer_360",
    "next_best_offer_signals",
    "purchase_stats",
    "popular_items",
    "recent_activity",
    "recent_errors",
)
PERSONAL_COLUMNS = ("first_name", "last_name", "email", "phone")  # masked without the pii grant

_MACROS = """
CREATE OR REPLACE MACRO c360_money(j) AS coalesce(
    TRY_CAST(json_extract_string(j, '$."$numberDecimal"') AS DECIMAL(38, 6)),
    TRY_CAST(json_extract_string(j, '$') AS DECIMAL(38, 6)));
CREATE OR REPLACE MACRO c360_time(j) AS TRY_CAST(json_extract_string(j, '$."$date"') AS TIMESTAMPTZ);
-- num / den rounded half to even at `places` decimals, exactly (Python's Decimal.quantize does so), as
-- n / d in millionths. A plain expression, not a subquery: a subquery per row became a correlated join
-- that kept a profile_id filter from reaching the table (every query evaluated every profile).
CREATE OR REPLACE MACRO c360_half_even(n, d, places) AS
    (n // d + CASE WHEN 2 * abs(n % d) > abs(d) OR (2 * abs(n % d) = abs(d) AND (n // d) % 2 <> 0)
                   THEN sign(n) * sign(d) ELSE 0 END)::DECIMAL(38, 6) / (10 ** places)::HUGEINT;
CREATE OR REPLACE MACRO c360_ratio(num, den, places) AS CASE WHEN den <> 0 THEN c360_half_even(
    (num * 1000000)::HUGEINT * (10 ** places)::HUGEINT, nullif((den * 1000000)::HUGEINT, 0), places)
    END;
CREATE OR REPLACE MACRO c360_mask_text(v) AS CASE WHEN v = '' THEN '' ELSE substring(v, 1, 1) || '***' END;
CREATE OR REPLACE MACRO c360_mask_email(v) AS substring(split_part(v, '@', 1), 1, 1) || '***@'
    || CASE WHEN instr(v, '@') > 0 THEN substring(v, instr(v, '@') + 1) ELSE '' END;
CREATE OR REPLACE MACRO c360_mask_phone(v) AS
    left(v, 3) || repeat('*', greatest(length(v) - 5, 0)) || right(v, 2);
"""

_COUNTS = "MAP(VARCHAR, BIGINT)"
# json_transform structures: a JSON object is a struct, a one-element array a list, a string a type.
_DAY = {
    "n": _COUNTS,
    "tx": {"vol": "JSON", "debit_n": "BIGINT", "debit_sum": "JSON", "ch": _COUNTS, "mcc": _COUNTS},
    "svc": {"sentiment": "BIGINT", "sentiment_n": "BIGINT", "complaints": "BIGINT"},
}
_HOLDINGS = [
    {
        "product_id": "VARCHAR",
        "product_type": "VARCHAR",
        "status": "VARCHAR",
        "opened_on": "VARCHAR",
        "credit_limit": "JSON",
        "outstanding_balance": "JSON",
    }
]
_TICKET = {"opened": "JSON", "solved": "JSON", "subject": "VARCHAR", "complaint": "BOOLEAN"}
_ORDERS = {"count": "BIGINT", "amount": "JSON", "items": "BIGINT", "last_at": "JSON"}
_TIMELINE = [
    {
        "at": "JSON",
        "event_id": "VARCHAR",
        "type": "VARCHAR",
        "source": "VARCHAR",
        "channel": "VARCHAR",
        "summary": "VARCHAR",
    }
]
_ERRORS = [{"at": "JSON", "url": "VARCHAR", "code": "VARCHAR", "message": "VARCHAR"}]


def _transform(path: int, structure: object, keyed: bool = False) -> str:
    """Part `path` of the extracted list in `structure`, leniently (a missing key is NULL, not an
    error); `keyed`: an object of such values under arbitrary keys (a MAP of them)."""
    if keyed:  # a MAP's value type is named in SQL: a struct's fields as STRUCT(...)
        return f"json_transform(j[{path}], '\"MAP(VARCHAR, {_sql_type(structure)})\"')"
    return f"json_transform(j[{path}], '{json.dumps(structure)}')"


def _sql_type(structure: object) -> str:
    if isinstance(structure, dict):
        return "STRUCT(" + ", ".join(f"{k} {_sql_type(v)}" for k, v in structure.items()) + ")"
    return str(structure)


def _trait(name: str) -> str:
    """The trait from the first source in TRAIT_PRECEDENCE stating it (CDC person rows stand behind the
    retail source's own statements), then from any other source in name order."""
    ranked: list[str] = []
    for source in TRAIT_PRECEDENCE:
        ranked.append(f"traits->'{source}'->'{name}'->>'value'")
        if source == "retail":
            ranked.append(f"person->>'{name}'")
    known = ", ".join(f"'{s}'" for s in TRAIT_PRECEDENCE)
    others = (
        f"[traits->k->'{name}'->>'value' FOR k IN list_sort(coalesce(json_keys(traits), []))"
        f" IF k NOT IN ({known})]"
    )
    return f"coalesce({', '.join(ranked)}, list_filter({others}, lambda v: v IS NOT NULL)[1])"


def _latest(kind: str) -> str:
    """The identifier of that type seen most recently (ties: the greatest value)."""
    return (
        f"list_sort([{{'seen': i.last_seen, 'value': i.value}} FOR i IN coalesce(identifiers, [])"
        f" IF i.type = '{kind}'], 'DESC', 'NULLS LAST')[1].value"
    )


# Parsed once per profile: one JSON parse pulls every part out (`json_extract` with a list of paths).
PROFILE_STATE_SQL = f"""
SELECT profile_id, seq, merged_into, version, first_seen, last_seen, updated_at, segments, identifiers,
    {_trait("first_name")} AS first_name,
    {_trait("last_name")} AS last_name,
    {_trait("country")} AS country,
    {_latest("email")} AS email,
    {_latest("phone")} AS phone,
    [{{'day': TRY_CAST(e.key AS DATE), 'n': e.value.n, 'vol': c360_money(e.value.tx.vol),
       'debit_n': e.value.tx.debit_n, 'debit_sum': c360_money(e.value.tx.debit_sum),
       'ch': e.value.tx.ch, 'mcc': map_keys(e.value.tx.mcc), 'sentiment': e.value.svc.sentiment,
       'sentiment_n': e.value.svc.sentiment_n, 'complaints': e.value.svc.complaints}}
     FOR e IN map_entries(coalesce({_transform(1, _DAY, keyed=True)}, MAP()))] AS days,
    map_from_entries([{{'k': e.key, 'v': c360_time(e.value)}}
     FOR e IN map_entries(coalesce({_transform(2, "JSON", keyed=True)}, MAP()))]) AS last,
    [{{'product_id': h.product_id, 'product_type': h.product_type, 'status': h.status,
       'opened_on': h.opened_on, 'credit_limit': c360_money(h.credit_limit),
       'outstanding_balance': c360_money(h.outstanding_balance)}}
     FOR h IN coalesce({_transform(3, _HOLDINGS)}, [])] AS holdings,
    [{{'ticket_id': t.key, 'opened': c360_time(t.value.opened), 'solved': c360_time(t.value.solved),
       'subject': t.value.subject, 'complaint': coalesce(t.value.complaint, false)}}
     FOR t IN map_entries(coalesce({_transform(4, _TICKET, keyed=True)}, MAP()))] AS tickets,
    coalesce(json_extract(j[5], '$.orders.online')::BIGINT, 0) AS kafka_online_orders,
    coalesce(json_extract(j[5], '$.orders.in_store')::BIGINT, 0) AS kafka_in_store_orders,
    coalesce(json_extract(j[5], '$.items')::BIGINT, 0) AS kafka_items,
    coalesce(c360_money(json_extract(j[5], '$.spend')), 0) AS kafka_spend,
    coalesce({_transform(6, "BIGINT", keyed=True)}, MAP()) AS skus,
    [{{'source_table': o.key, 'count': coalesce(o.value.count, 0), 'amount': c360_money(o.value.amount),
       'items': coalesce(o.value.items, 0), 'last_at': c360_time(o.value.last_at)}}
     FOR o IN map_entries(coalesce({_transform(7, _ORDERS, keyed=True)}, MAP()))] AS cdc_orders,
    [{{'at': c360_time(e.at), 'event_id': e.event_id, 'type': e.type, 'source': e.source,
       'channel': e.channel, 'summary': e.summary}}
     FOR e IN coalesce({_transform(8, _TIMELINE)}, [])] AS timeline,
    [{{'at': c360_time(e.at), 'url': e.url, 'code': e.code, 'message': e.message}}
     FOR e IN coalesce({_transform(9, _ERRORS)}, [])] AS web_errors
FROM (
    SELECT *, j[10] AS traits, j[11] AS person
    FROM (SELECT profile_id, seq, merged_into, version, first_seen, last_seen, updated_at, segments,
                 identifiers, json_extract(document, ['$.daily', '$.last', '$.cdc.holdings', '$.tickets',
                                         '$.retail',
                                         '$.retail.skus', '$.cdc.orders', '$.timeline', '$.web.errors',
                                         '$.traits', '$.cdc.person']) AS j
          FROM {{source}})
)
"""

# Masked for a reader without the pii grant, as the API masks (api/masking.py).
MASKED_STATE_SQL = """
SELECT * REPLACE (c360_mask_text(first_name) AS first_name, c360_mask_text(last_name) AS last_name,
                  c360_mask_email(email) AS email, c360_mask_phone(phone) AS phone)
FROM {source}
"""

_ENGAGEMENT = " + ".join(
    f"{weight} * coalesce(list_sum([d.n['{kind}'] FOR d IN r]), 0)"
    for kind, weight in ENGAGEMENT_WEIGHTS.items()
)

# Window lists per profile: q = the 90 calendar days ending today (UTC), r = the last 30, e = the 60 before.
_WINDOWS = """
CREATE OR REPLACE VIEW c360_windows AS
SELECT *,
    [d FOR d IN days IF d.day BETWEEN today - 89 AND today] AS q,
    [d FOR d IN days IF d.day BETWEEN today - 29 AND today] AS r,
    [d FOR d IN days IF d.day BETWEEN today - 89 AND today - 30] AS e,
    [h FOR h IN holdings IF h.status = 'active'] AS active
FROM (SELECT *, as_of() AS now, CAST(as_of() AS DATE) AS today FROM profile_state)
"""

_CUSTOMER_360 = f"""
CREATE OR REPLACE VIEW customer_360 AS
SELECT profile_id, first_name, last_name, email, phone, country,
    len(active) AS total_products,
    len(list_distinct([h.product_type FOR h IN active IF h.product_type IS NOT NULL])) AS product_diversity,
    coalesce(list_sum([h.credit_limit FOR h IN active]), 0) AS total_credit_limit,
    coalesce(list_sum([h.outstanding_balance FOR h IN active]), 0) AS total_outstanding,
    c360_ratio(
        coalesce(list_sum([coalesce(h.outstanding_balance, 0) FOR h IN active IF h.credit_limit <> 0]), 0),
        coalesce(list_sum([h.credit_limit FOR h IN active IF h.credit_limit <> 0]), 0), 4
    )::DECIMAL(38, 4) AS credit_utilization,
    coalesce(list_sum([d.n['transaction'] FOR d IN q]), 0)::BIGINT AS tx_count_90d,
    coalesce(list_sum([d.vol FOR d IN q]), 0)::DECIMAL(38, 6) AS total_activity_volume,
    list_sort(list_distinct(flatten([coalesce(map_keys(d.ch), []) FOR d IN q]))) AS channels_used,
    coalesce(list_sum([d.ch['mobile'] FOR d IN q]), 0)::BIGINT AS mobile_tx_count,
    last['transaction'] AS last_activity_time,
    coalesce(list_sum([d.n['ticket_open'] FOR d IN r]), 0)::BIGINT AS contacts_30d,
    c360_ratio(coalesce(list_sum([d.sentiment FOR d IN r]), 0),
               coalesce(list_sum([d.sentiment_n FOR d IN r]), 0) * 100, 2)::DECIMAL(38, 2)
        AS avg_recent_sentiment,
    len([t FOR t IN tickets IF t.opened <= now AND NOT coalesce(t.solved <= now, false)
                              AND t.opened >= now - INTERVAL 7 DAY]) AS open_issues_7d,
    coalesce(list_sum([d.complaints FOR d IN q]), 0)::BIGINT AS complaints_90d,
    least(100, {_ENGAGEMENT})::BIGINT AS engagement_score
FROM c360_windows
"""

_SIGNALS = """
CREATE OR REPLACE VIEW c360_signals AS
SELECT c.*, s.declining_activity, s.rising_complaints, s.no_recent_mobile_use,
    ['low', 'medium', 'high', 'high'][1 + s.declining_activity::INT + s.rising_complaints::INT
                                        + s.no_recent_mobile_use::INT] AS churn_level,
    s.product_types
FROM customer_360 c JOIN (
    SELECT profile_id,
        coalesce(list_sum([list_sum(map_values(d.n)) FOR d IN e]), 0) > 0
            AND 4 * coalesce(list_sum([list_sum(map_values(d.n)) FOR d IN r]), 0)
                < coalesce(list_sum([list_sum(map_values(d.n)) FOR d IN e]), 0) AS declining_activity,
        coalesce(list_sum([d.complaints FOR d IN r]), 0) > 0
            AND 2 * coalesce(list_sum([d.complaints FOR d IN r]), 0)
                > coalesce(list_sum([d.complaints FOR d IN e]), 0) AS rising_complaints,
        coalesce(list_sum([d.ch['mobile'] FOR d IN r]), 0) = 0 AS no_recent_mobile_use,
        list_sort(list_distinct([h.product_type FOR h IN active IF h.product_type IS NOT NULL]))
            AS product_types
    FROM c360_windows) s USING (profile_id)
"""

_RETAIL = """
CREATE OR REPLACE VIEW purchase_stats AS
SELECT profile_id, online_orders, in_store_orders, online_orders + in_store_orders AS total_orders,
    items_purchased,
    c360_ratio(items_purchased, online_orders + in_store_orders, 2)::DECIMAL(38, 2) AS items_per_order,
    lifetime_spend, last_purchase, last_login, last_website_visit, last_email_sent, last_email_opened,
    last_email_clicked
FROM (
    SELECT profile_id,
        kafka_online_orders
            + coalesce(list_sum([o.count FOR o IN cdc_orders IF o.source_table = 'online_orders']), 0)::BIGINT
            AS online_orders,
        kafka_in_store_orders
            + coalesce(list_sum([o.count FOR o IN cdc_orders IF o.source_table = 'store_orders']), 0)::BIGINT
            AS in_store_orders,
        (kafka_items + coalesce(list_sum([o.items FOR o IN cdc_orders]), 0))::BIGINT AS items_purchased,
        (kafka_spend + coalesce(list_sum([coalesce(o.amount, 0) FOR o IN cdc_orders]), 0))::DECIMAL(38, 6)
            AS lifetime_spend,
        list_max(list_filter(list_concat([last['order']], [o.last_at FOR o IN cdc_orders]),
                             lambda t: t IS NOT NULL)) AS last_purchase,
        last['login'] AS last_login, last['page_view'] AS last_website_visit,
        last['email_sent'] AS last_email_sent, last['email_opened'] AS last_email_opened,
        last['email_clicked'] AS last_email_clicked
    FROM profile_state);
CREATE OR REPLACE VIEW popular_items AS
SELECT profile_id, sku, quantity,
    row_number() OVER (PARTITION BY profile_id ORDER BY quantity DESC, sku) AS rank
FROM (SELECT profile_id, unnest(map_keys(skus)) AS sku, unnest(map_values(skus)) AS quantity
      FROM profile_state);
CREATE OR REPLACE VIEW recent_activity AS
SELECT profile_id, e.at, e.event_id, e.type, e.source, e.channel, e.summary
FROM (SELECT profile_id, unnest(timeline) AS e FROM profile_state);
CREATE OR REPLACE VIEW recent_errors AS
SELECT profile_id, e.at, e.url, e.code, e.message
FROM (SELECT profile_id, unnest(web_errors) AS e FROM profile_state);
"""


def state_sql(source: str) -> str:
    """`profile_state`'s query over `source` (live profiles with their `document`)."""
    return PROFILE_STATE_SQL.replace("{source}", source)


def create_customer_views(
    con: duckdb.DuckDBPyConnection, rules: OfferRules, state: str | None = "profiles"
) -> None:
    """The views of the module docstring on `con`, which already has `as_of()`. `state`: the relation
    holding live profiles with their `document`, parsed by a `profile_state` view; None when `con` has
    a `profile_state` table of its own (the endpoint's)."""
    con.execute(_MACROS)
    if state is not None:
        con.execute("CREATE OR REPLACE VIEW profile_state AS " + state_sql(state))
    con.execute(_WINDOWS)
    con.execute(_CUSTOMER_360)
    con.execute(_SIGNALS)
    con.execute(
        "CREATE OR REPLACE VIEW next_best_offer_signals AS SELECT profile_id, declining_activity, "
        "rising_complaints, no_recent_mobile_use, churn_level, credit_utilization, product_types, "
        "tx_count_90d, total_activity_volume, mobile_tx_count AS mobile_count_90d, engagement_score, "
        f"complaints_90d, {offer_sql(rules)} FROM c360_signals"
    )
    con.execute(_RETAIL)


# Facts the offer rules name (operational/offers.yaml), as c360_signals calls them.
_FACTS = {
    "churn_level": "churn_level",
    "credit_utilization": "credit_utilization",
    "product_types": "product_types",
    "tx_count_90d": "tx_count_90d",
    "total_activity_volume": "total_activity_volume",
    "mobile_count_90d": "mobile_tx_count",
    "engagement_score": "engagement_score",
    "complaints_90d": "complaints_90d",
}


def offer_sql(rules: OfferRules) -> str:
    """The rules as two CASE expressions (offer, reason): first matching rule wins, as `OfferRules.choose`."""
    if not rules.rules:
        return "NULL::VARCHAR AS next_best_offer, NULL::VARCHAR AS offer_reason"
    whens = [" AND ".join(_condition_sql(c) for c in rule.when) for rule in rules.rules]
    offer = " ".join(f"WHEN {w} THEN {_literal(r.offer)}" for w, r in zip(whens, rules.rules, strict=True))
    reason = " ".join(f"WHEN {w} THEN {_literal(r.reason)}" for w, r in zip(whens, rules.rules, strict=True))
    return f"CASE {offer} END AS next_best_offer, CASE {reason} END AS offer_reason"


def _condition_sql(condition: Condition) -> str:
    fact = _FACTS.get(condition.fact)
    if fact is None:  # a fact the profile does not have is unknown: only `ne`/`lacks` can hold
        return "true" if condition.op in ("ne", "lacks") else "false"
    value = _literal(condition.value)
    match condition.op:
        case "has" | "lacks":
            holds = f"list_contains(coalesce({fact}, []), {value})"
            return holds if condition.op == "has" else f"NOT {holds}"
        case "eq" | "ne":
            holds = f"coalesce({fact} = {value}, false)"
            return holds if condition.op == "eq" else f"NOT {holds}"
    operator = {"gt": ">", "gte": ">=", "lt": "<", "lte": "<="}[condition.op]
    return f"coalesce({fact} {operator} {_literal(Decimal(str(condition.value)))}, false)"


def _literal(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | Decimal):
        return f"{Decimal(str(value))}::DECIMAL(38, 10)"
    return "'" + str(value).replace("'", "''") + "'"
