import pytest

from ingest.normalize import normalize_email, normalize_id, normalize_phone


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("  John.Smith@Gmail.COM ", "john.smith@gmail.com"),
        ("a.b+tag@sub.example.org", "a.b+tag@sub.example.org"),
    ],
)
def test_email_trimmed_lowercased(raw: str, expected: str) -> None:
    assert normalize_email(raw) == expected


@pytest.mark.parametrize("raw", ["no-at-sign", "two@@signs.com", "space in@x.com", "a@localhost", ""])
def test_email_invalid(raw: str) -> None:
    with pytest.raises(ValueError, match="email"):
        normalize_email(raw)


@pytest.mark.parametrize(
    "raw", ["07911 123456", "+44 7911 123456", "+447911123456", "(07911) 123-456", " 0044 7911 123456 "]
)
def test_phone_variants_to_e164(raw: str) -> None:
    assert normalize_phone(raw) == "+447911123456"


def test_phone_other_region() -> None:
    assert normalize_phone("(415) 555-2671", "US") == "+14155552671"


@pytest.mark.parametrize("raw", ["12", "not a phone", "+44 0000 000000"])
def test_phone_invalid(raw: str) -> None:
    with pytest.raises(ValueError, match="phone"):
        normalize_phone(raw)


def test_id_trimmed_only() -> None:
    assert normalize_id("  ACC-001 ") == "ACC-001"
    with pytest.raises(ValueError, match="empty"):
        normalize_id("   ")


def test_id_empty_is_refused_saying_so() -> None:
    with pytest.raises(ValueError, match=r"^empty identifier$"):
        normalize_id("\t \n")


def test_id_of_256_characters_is_kept_and_257_refused() -> None:
    longest = "x" * 256
    assert normalize_id(f" {longest} ") == longest
    with pytest.raises(ValueError, match=r"^identifier longer than 256 characters$"):
        normalize_id(longest + "y")
