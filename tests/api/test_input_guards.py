"""Inputs that once reached the database and came back as server errors."""

from __future__ import annotations

import base64
import json

from tests.support import GraphQLClient

WALLET = "query($id: Long!, $after: String) { wallet(customerId: $id, after: $after) { totalCount } }"


def _cursor(*values: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(values)).encode()).decode()


async def test_a_nul_character_in_a_variable_is_refused_before_anything_runs(gql: GraphQLClient) -> None:
    # given
    await gql.create_customers(566881933)
    # when
    body = await gql(
        "mutation($c: [CreateCustomerInput!]!) { importCustomers(customers: $c) { __typename } }",
        {"c": [{"id": 777, "externalId": "ext\x00id"}]},
    )
    # then
    assert body["data"] is None
    [error] = body["errors"]
    assert "NUL" in error["message"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert (await gql.data("{ customer(id: 777) { id } }"))["customer"] is None


async def test_a_nul_character_inline_in_the_document_is_refused(gql: GraphQLClient) -> None:
    body = await gql('{ promotion(id: "abc\\u0000") { id } }')
    assert body["data"] is None
    assert "NUL" in body["errors"][0]["message"]


async def test_a_cursor_with_an_integer_beyond_64_bits_is_a_readable_error(gql: GraphQLClient) -> None:
    # given a hand-made cursor that once reached the database as an unbindable parameter
    await gql.create_customers(566881933)
    # when
    body = await gql(WALLET, {"id": 566881933, "after": _cursor(10**30, "a" * 24)})
    # then
    [error] = body["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert error["extensions"]["field"] == "after"


async def test_a_cursor_from_the_list_itself_still_pages(gql: GraphQLClient) -> None:
    await gql.create_customers(566881933)
    body = await gql(WALLET, {"id": 566881933, "after": _cursor(1_800_000_000_000, "a" * 24)})
    assert body["data"]["wallet"]["totalCount"] == 0
