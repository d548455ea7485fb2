"""Which buffered rows a batch writes when it also holds deletes (erasures) of some of their documents."""

from __future__ import annotations

from sync.stream import rows_after_erasures


def test_rows_of_an_erased_key_before_its_delete_are_not_written() -> None:
    rows = [{"k": "a", "n": 0}, {"k": "b", "n": 1}, {"k": "a", "n": 2}, {"k": "c", "n": 3}]
    assert rows_after_erasures(rows, [("a", 3)], "k") == [{"k": "b", "n": 1}, {"k": "c", "n": 3}]


def test_a_document_written_again_after_its_delete_keeps_what_came_after() -> None:
    rows = [{"k": "a", "n": 0}, {"k": "a", "n": 1}, {"k": "a", "n": 2}]
    assert rows_after_erasures(rows, [("a", 1)], "k") == [{"k": "a", "n": 1}, {"k": "a", "n": 2}]
    assert rows_after_erasures(rows, [("a", 1), ("a", 2)], "k") == [{"k": "a", "n": 2}]


def test_without_erasures_every_row_is_written() -> None:
    rows = [{"k": "a"}, {"k": None}]
    assert rows_after_erasures(rows, [], "k") == rows
    assert rows_after_erasures(rows, [("b", 2)], "k") == rows
