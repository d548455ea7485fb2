"""The lakehouse side: Delta Lake tables queried with DuckDB and Polars (segments, LTV, exports).

Empty until the CDC sync lands; see the issue tracker.
"""
