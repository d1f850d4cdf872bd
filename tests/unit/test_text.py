"""The one guard for text no database can store (domain/text.py)."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.domain.text import has_unstorable_text, is_storable, json_may_spell_unstorable_text


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


@settings(max_examples=200)
@given(
    st.recursive(st.text(), lambda inner: st.lists(inner) | st.dictionaries(st.text(), inner), max_leaves=8)
)
def test_json_that_decodes_to_unstorable_text_always_has_an_escape_in_its_bytes(value: object) -> None:
    # Every way a client's encoder may write it: escaped to ASCII, or raw UTF-8 wherever it can be.
    for text in (json.dumps(value), json.dumps(value, ensure_ascii=False)):
        try:
            raw = text.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate has no UTF-8 bytes: only its escape is JSON
            continue
        if has_unstorable_text(json.loads(raw)):
            assert json_may_spell_unstorable_text(raw)


def test_a_body_without_a_u_escape_may_not_spell_unstorable_text() -> None:
    assert not json_may_spell_unstorable_text('{"a": "plain 😀 \\n \\" \\\\"}'.encode())
    assert json_may_spell_unstorable_text(b'{"a": "\\u0000"}')
