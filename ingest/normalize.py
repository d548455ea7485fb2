"""Identifier normalization, done once at ingest so that every later comparison is plain equality.

Results are cached: the same email or phone number arrives thousands of times and validation of each
costs tens of microseconds.
"""

from __future__ import annotations

from functools import lru_cache

import phonenumbers
from email_validator import EmailNotValidError, validate_email

DEFAULT_PHONE_REGION = "GB"
_CACHE = 1 << 18


@lru_cache(maxsize=_CACHE)
def normalize_email(raw: str) -> str:
    """Trimmed, lower-cased, syntax-checked; no DNS lookups (ingest must not depend on the network)."""
    candidate = raw.strip().lower()
    try:
        return validate_email(candidate, check_deliverability=False).normalized.lower()
    except EmailNotValidError as exc:
        raise ValueError(f"not a valid email address ({exc})") from None


@lru_cache(maxsize=_CACHE)
def normalize_phone(raw: str, region: str = DEFAULT_PHONE_REGION) -> str:
    """E.164; numbers without a country code are read in `region`."""
    try:
        parsed = phonenumbers.parse(raw.strip(), region)
    except phonenumbers.NumberParseException as exc:
        raise ValueError(f"not a phone number ({exc})") from None
    if not phonenumbers.is_valid_number(parsed):
        raise ValueError("not a valid phone number for its country")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def normalize_id(raw: str) -> str:
    """Opaque ids are only trimmed: their case and inner characters may be meaningful to the source."""
    value = raw.strip()
    if not value:
        raise ValueError("empty identifier")
    if len(value) > 256:
        raise ValueError("identifier longer than 256 characters")
    return value
