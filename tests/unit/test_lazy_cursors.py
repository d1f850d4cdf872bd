"""A page's cursors are encoded when they are read (domain/paging.py LazyCursors): the same
cursors as encoding them all at once, and only those read are encoded."""

from __future__ import annotations

from typing import Any

import pytest

from app.domain import paging
from app.domain.paging import LazyCursors, encode_cursor

KEYS = [(1_700_000_000_000 + n, f"id-{n}") for n in range(5)]


def test_lazy_cursors_are_the_cursors_encoded_at_once() -> None:
    cursors = LazyCursors(KEYS, lambda key: key)
    expected = [encode_cursor(*key) for key in KEYS]
    assert cursors == expected
    assert list(cursors) == expected
    assert (len(cursors), cursors[0], cursors[-1]) == (5, expected[0], expected[-1])
    assert cursors[1:3] == expected[1:3]
    with pytest.raises(IndexError):
        cursors[5]


def test_only_the_cursors_read_are_encoded(monkeypatch: pytest.MonkeyPatch) -> None:
    encoded: list[tuple[Any, ...]] = []

    def counting(*key: Any) -> str:
        encoded.append(key)
        return "c"

    monkeypatch.setattr(paging, "encode_cursor", counting)
    cursors = LazyCursors(KEYS, lambda key: key)
    assert cursors[-1] == "c" and cursors[-1] == "c"
    assert encoded == [KEYS[-1]]  # the last one, once
