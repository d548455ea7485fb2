"""placeholder"""


def test_placeholder() -> None:
    assert True
