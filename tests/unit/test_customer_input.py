"""importCustomers' rows are built by CreateCustomerInput's `from_input` hook instead of Strawberry's
generic input conversion (app/graphql/mutations/create_customer.py): the two must build equal rows
from every value graphql-core can hand over."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from strawberry.types.arguments import convert_argument
from strawberry.types.base import get_object_definition

from app.graphql.mutations.create_customer import CreateCustomerInput
from app.graphql.schema import schema

_DEFINITION = get_object_definition(CreateCustomerInput, strict=True)

_optional_text = st.one_of(st.none(), st.text(max_size=20))
_coerced_rows = st.fixed_dictionaries(
    {"id": st.integers(min_value=1, max_value=2**63 - 1)},
    optional={"mobile": _optional_text, "email": _optional_text, "externalId": _optional_text},
)


@contextmanager
def _generic_conversion() -> Iterator[None]:
    hook, _DEFINITION.from_input = _DEFINITION.from_input, None
    try:
        yield
    finally:
        _DEFINITION.from_input = hook


def _convert(value: dict[str, Any]) -> Any:
    return convert_argument(
        value, CreateCustomerInput, schema.schema_converter.scalar_registry, schema.config
    )


def test_the_row_type_builds_its_rows_with_its_own_hook() -> None:
    assert _DEFINITION.from_input is not None


@given(_coerced_rows)
def test_the_hook_builds_the_row_strawberrys_generic_conversion_builds(value: dict[str, Any]) -> None:
    built = _convert(value)
    with _generic_conversion():
        expected = _convert(value)
    assert type(built) is CreateCustomerInput
    assert vars(built) == vars(expected)


def test_a_field_the_client_left_out_is_none_as_in_the_generic_conversion() -> None:
    row = _convert({"id": 7, "mobile": "9000000001", "externalId": "x-7"})
    assert (row.id, row.mobile, row.email, row.external_id) == (7, "9000000001", None, "x-7")
