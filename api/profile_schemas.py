"""Response models of the full profile's sections (profiles/view.py builds their content)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, Field


class TraitOut(BaseModel):
    value: Any
    source: str = Field(description="The source that won by precedence")
    updated_at: datetime | None = Field(
        description="When that source last stated it: a state file's as-of for its rows (a date: midnight "
        "UTC); None for CDC person rows"
    )


class ConsentOut(BaseModel):
    value: bool
    source: str
    updated_at: datetime


class HoldingOut(BaseModel):
    product_id: str | None
    product_type: str | None
    status: str | None
    opened_on: str | None
    credit_limit: Decimal | None
    outstanding_balance: Decimal | None


class TransactionsOut(BaseModel):
    tx_count_90d: int
    total_activity_volume: Decimal = Field(description="Sum of transaction amounts, 90 days")
    avg_debit_amount: Decimal | None = Field(description="90 days")
    active_product_types: list[str]
    channels_used: list[str] = Field(description="Transaction channels, 90 days")
    mobile_count_90d: int
    branch_count_90d: int
    last_activity_time: datetime | None
    spending_diversity: int = Field(description="Distinct merchant categories, 90 days")


class TicketOut(BaseModel):
    ticket_id: str
    subject: str | None
    opened: datetime
    complaint: bool


class ServiceOut(BaseModel):
    contacts_30d: int
    contacts_90d: int
    avg_recent_sentiment: Decimal | None = Field(description="-1..1, tickets opened in the last 30 days")
    open_issues_7d: int
    complaints_90d: int
    last_contact_time: datetime | None
    has_open_support_ticket: bool
    open_tickets: list[TicketOut]


class TopItemOut(BaseModel):
    sku: str
    count: int


class WebErrorOut(BaseModel):
    at: datetime
    url: str | None
    code: int | None
    message: str | None


class RetailOut(BaseModel):
    online_orders: int
    in_store_orders: int
    items_purchased: int
    items_per_order: Decimal | None
    lifetime_spend: Decimal
    top_items: list[TopItemOut]
    last_purchase: datetime | None
    last_login: datetime | None
    last_website_visit: datetime | None
    last_email_sent: datetime | None
    last_email_opened: datetime | None
    last_email_clicked: datetime | None
    session_page_views: int = Field(description="Views in the current session (gaps under 30 minutes)")
    web_errors: list[WebErrorOut]


class ChurnRiskOut(BaseModel):
    declining_activity: bool
    rising_complaints: bool
    no_recent_mobile_use: bool
    level: str


class OfferOut(BaseModel):
    offer: str
    reason: str


class TimelineEntryOut(BaseModel):
    at: datetime
    event_id: str
    type: str
    source: str
    channel: str | None
    summary: str
