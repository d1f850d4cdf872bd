"""The one guard for text no database can store (domain/text.py)."""

from __future__ import annotations

import pytest

from app.domain.text import has_unstorable_text, is_storable


@pytest.mark.parametrize("value", ["", "plain", "emoji 😀", "ünïcødé", "tab\tnewline\n"])
def test_ordinary_text_is_storable(value: str) -> None:
    assert is_storable(value)
    assert not has_unstorable_text(value)


@pytest.mark.parametrize("value", ["nul\x00", "\ud83d", "low \ude00 half", "\udfff"])
def test_nul_and_unpaired_surrogates_are_not_storable(value: str) -> None:
    assert not is_storable(value)


def test_unstorable_text_is_found_anywhere_in_a_nested_value_keys_included() -> None:
    assert has_unstorable_text({"a": [1, {"b": ["x", "\x00"]}]})
    assert has_unstorable_text({"k\ud800": 1})
    assert has_unstorable_text(("ok", "\ud800"))
    assert not has_unstorable_text({"a": [1, None, 2.5, {"b": "fine"}]})
