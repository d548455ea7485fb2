"""Ready-made analyses as SQL over the lakehouse views, as of the connection's `as_of()`.

Revenue is the exact decimal `amount` of the event types in `revenue_types` (store orders and bank
transactions by default). Each function only builds SQL; `Analyses` runs them lazily.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

from lakehouse.results import LazyResult

REVENUE_TYPES = ("order", "transaction")


def _types(revenue_types: tuple[str, ...]) -> str:
    return ", ".join(f"'{t}'" for t in revenue_types)


def ltv_sql(revenue_types: tuple[str, ...] = REVENUE_TYPES) -> str:
    """Historical lifetime value per customer."""
    return f"""
SELECT profile_id, sum(amount) AS ltv, count(*) AS purchases,
       min(occurred_at) AS first_purchase, max(occurred_at) AS last_purchase
FROM events
WHERE type IN ({_types(revenue_types)}) AND amount IS NOT NULL AND occurred_at <= as_of()
GROUP BY profile_id
"""


def cohort_ltv_sql(revenue_types: tuple[str, ...] = REVENUE_TYPES) -> str:
    """Average cumulative revenue per customer by first-purchase month and months since then."""
    return f"""
WITH purchases AS (
    SELECT profile_id, occurred_at, amount FROM events
    WHERE type IN ({_types(revenue_types)}) AND amount IS NOT NULL AND occurred_at <= as_of()
), cohorts AS (
    SELECT profile_id, date_trunc('month', min(occurred_at)) AS cohort FROM purchases GROUP BY profile_id
), monthly AS (
    SELECT c.cohort, date_diff('month', c.cohort, date_trunc('month', p.occurred_at)) AS month,
           sum(p.amount) AS revenue
    FROM purchases p JOIN cohorts c USING (profile_id) GROUP BY ALL
), sizes AS (SELECT cohort, count(*) AS customers FROM cohorts GROUP BY cohort)
SELECT m.cohort, m.month, s.customers,
       sum(m.revenue) OVER (PARTITION BY m.cohort ORDER BY m.month) / s.customers AS cumulative_ltv
FROM monthly m JOIN sizes s USING (cohort)
ORDER BY m.cohort, m.month
"""


def rfm_sql(revenue_types: tuple[str, ...] = REVENUE_TYPES) -> str:
    """Recency, frequency and monetary value with 1-5 quintile scores (5 is best)."""
    return f"""
WITH base AS (
    SELECT profile_id, date_diff('day', max(occurred_at), as_of()) AS recency_days,
           count(*) AS frequency, sum(amount) AS monetary
    FROM events
    WHERE type IN ({_types(revenue_types)}) AND amount IS NOT NULL AND occurred_at <= as_of()
    GROUP BY profile_id
)
SELECT *, ntile(5) OVER (ORDER BY recency_days DESC) AS r_score,
       ntile(5) OVER (ORDER BY frequency) AS f_score, ntile(5) OVER (ORDER BY monetary) AS m_score
FROM base
"""


def churn_sql(window_days: int = 30, min_errors: int = 3) -> str:
    """Bank customers going quiet: transactions in the previous window but none in the last one, or
    repeated web errors in the last window (the banking seed's signals)."""
    return f"""
WITH recent AS (
    SELECT profile_id,
        count(*) FILTER (type = 'transaction' AND occurred_at > as_of() - INTERVAL {window_days} DAY)
            AS transactions_now,
        count(*) FILTER (type = 'transaction' AND occurred_at <= as_of() - INTERVAL {window_days} DAY
                         AND occurred_at > as_of() - INTERVAL {2 * window_days} DAY) AS transactions_before,
        count(*) FILTER (type = 'web_error' AND occurred_at > as_of() - INTERVAL {window_days} DAY)
            AS web_errors_now,
        max(occurred_at) FILTER (type = 'transaction') AS last_transaction
    FROM events WHERE occurred_at <= as_of() GROUP BY profile_id
)
SELECT * FROM recent
WHERE (transactions_before > 0 AND transactions_now = 0) OR web_errors_now >= {min_errors}
"""


@dataclass(frozen=True)
class Analyses:
    con: duckdb.DuckDBPyConnection

    def ltv(self) -> LazyResult:
        return LazyResult(self.con, ltv_sql())

    def cohort_ltv(self) -> LazyResult:
        return LazyResult(self.con, cohort_ltv_sql())

    def rfm(self) -> LazyResult:
        return LazyResult(self.con, rfm_sql())

    def churn_candidates(self) -> LazyResult:
        return LazyResult(self.con, churn_sql())
