"""Keyset cursors and page-size checks."""

from __future__ import annotations

import base64
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.domain.errors import InvalidRequest
from app.domain.paging import InvalidPage, PageArgument, check_page_size, decode_cursor, encode_cursor


def test_a_cursor_decodes_to_the_key_it_encodes() -> None:
    cursor = encode_cursor(1748716199999, "6650a1b2c3d4e5f6a7b8c9d0")
    assert decode_cursor(cursor, int, str) == (1748716199999, "6650a1b2c3d4e5f6a7b8c9d0")


@pytest.mark.parametrize(
    "cursor",
    [
        "garbage!!",
        "",
        "%%%",
        base64.urlsafe_b64encode(b"not json").decode(),
        base64.urlsafe_b64encode(b'{"a": 1}').decode(),
        base64.urlsafe_b64encode(b"[1]").decode(),
        base64.urlsafe_b64encode(b'["x", "y"]').decode(),
        base64.urlsafe_b64encode(b'[true, "y"]').decode(),
        base64.urlsafe_b64encode(b"\xff\xfe").decode(),
        "ünïcødé",
    ],
)
def test_a_cursor_this_list_did_not_return_is_a_readable_invalid_request(cursor: str) -> None:
    with pytest.raises(InvalidPage) as raised:
        decode_cursor(cursor, int, str)
    assert raised.value.argument is PageArgument.CURSOR


@pytest.mark.parametrize("first", [0, 1, 100])
def test_page_sizes_from_0_to_100_are_accepted(first: int) -> None:
    check_page_size(first, 100)


@pytest.mark.parametrize("first", [-1, 101])
def test_page_sizes_outside_0_to_100_are_refused(first: int) -> None:
    with pytest.raises(InvalidPage) as raised:
        check_page_size(first, 100)
    assert raised.value.argument is PageArgument.SIZE


def test_a_paging_error_takes_each_faces_name_for_its_argument() -> None:
    # given a page size out of range, as the domain reports it (naming no argument)
    with pytest.raises(InvalidPage) as raised:
        check_page_size(101, 100)
    # when GraphQL and REST name it
    graphql = raised.value.named({PageArgument.SIZE: "first", PageArgument.CURSOR: "after"})
    rest = raised.value.named({PageArgument.SIZE: "limit", PageArgument.CURSOR: "cursor"})
    # then each says its own argument, and both stay plain 400 InvalidRequests
    assert (graphql.field, graphql.message) == ("first", "first must be between 0 and 100")
    assert (rest.field, rest.message) == ("limit", "limit must be between 0 and 100")
    assert type(graphql) is InvalidRequest and type(rest) is InvalidRequest


_KEY_PARTS = st.one_of(
    st.integers(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.text(),
    st.text(alphabet=st.characters(max_codepoint=127)),
    st.booleans(),
    st.none(),
    st.floats(allow_nan=False),
)


@given(st.lists(_KEY_PARTS, max_size=4))
def test_a_cursor_is_the_keys_compact_json_in_url_safe_base64(key: list[object]) -> None:
    expected = base64.urlsafe_b64encode(json.dumps(key, separators=(",", ":")).encode()).decode()
    assert encode_cursor(*key) == expected
