"""Personal data masked for readers without the `pii` grant: enough to confirm with the caller on the
line ("the address starting a..., at gmail.com"), not enough to copy."""

from __future__ import annotations

PERSONAL_IDENTIFIERS = frozenset({"email", "phone"})
PERSONAL_TRAITS = frozenset({"first_name", "last_name", "date_of_birth", "address", "gender"})


def mask_email(value: str) -> str:
    local, _, domain = value.partition("@")
    return f"{local[:1]}***@{domain}"


def mask_phone(value: str) -> str:
    return value[:3] + "*" * max(len(value) - 5, 0) + value[-2:]


def mask_text(value: object) -> str:
    text = str(value)
    return f"{text[:1]}***" if text else ""


def mask_identifier(type_: str, value: str) -> str:
    if type_ == "email":
        return mask_email(value)
    if type_ == "phone":
        return mask_phone(value)
    return value
