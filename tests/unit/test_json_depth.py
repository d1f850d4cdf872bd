"""The request body's nesting limit (http_limits.json_depth_exceeds)."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from app.http_limits import json_depth_exceeds

json_values = st.recursive(
    st.none() | st.integers() | st.text(max_size=3),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=3), inner, max_size=4),
    max_leaves=30,
)


def depth(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max(map(depth, value.values()), default=0)
    if isinstance(value, list):
        return 1 + max(map(depth, value), default=0)
    return 0


@given(json_values, st.integers(min_value=0, max_value=8))
def test_a_value_exceeds_the_limit_exactly_when_its_arrays_and_objects_nest_deeper(
    value: Any, limit: int
) -> None:
    assert json_depth_exceeds(value, limit) == (depth(value) > limit)


def test_a_value_nested_as_deep_as_the_limit_passes_and_one_level_more_does_not() -> None:
    value: Any = "leaf"
    for level in range(32):
        value = [value] if level % 2 else {"k": value}
    assert not json_depth_exceeds(value, 32)
    assert json_depth_exceeds([value], 32)
    assert json_depth_exceeds({"rows": [{"id": 1}] * 3 + [value]}, 32)


def test_a_hundred_thousand_levels_are_measured_without_recursion() -> None:
    value: list[Any] = []
    for _ in range(100_000):
        value = [value]
    assert json_depth_exceeds(value, 32)
