"""Inputs that once reached the database and came back as server errors."""

from __future__ import annotations

import base64
import json

import httpx

from app.domain.text import UNSTORABLE_TEXT_MESSAGE
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


SURROGATE = "\ud83d"  # half of an emoji: JSON can carry it (as \ud83d), no database can store it


async def post_ascii_json(
    http: httpx.AsyncClient, path: str, body: object, gql: GraphQLClient
) -> httpx.Response:
    """As a client's JSON encoder sends it: the surrogate escaped as \\ud83d (httpx would refuse it)."""
    return await http.post(
        path,
        content=json.dumps(body).encode(),
        headers={"content-type": "application/json", **gql.default.headers},
    )


async def test_an_unpaired_surrogate_in_a_variable_is_refused_before_anything_runs(
    gql: GraphQLClient, http: httpx.AsyncClient
) -> None:
    # given
    await gql.create_customers(566881933)
    # when a mutation and a query carry it in a variable
    mutation = await post_ascii_json(
        http,
        "/graphql",
        {
            "query": "mutation($c: [CreateCustomerInput!]!) "
            "{ importCustomers(customers: $c) { __typename } }",
            "variables": {"c": [{"id": 778, "externalId": f"ext{SURROGATE}"}]},
        },
        gql,
    )
    query = await post_ascii_json(
        http,
        "/graphql",
        {"query": "query($id: String!) { promotion(id: $id) { id } }", "variables": {"id": SURROGATE}},
        gql,
    )
    # then both are the same client error, never a retryable InternalError, and nothing is stored
    for response in (mutation, query):
        body = response.json()
        assert body["data"] is None
        [error] = body["errors"]
        assert "unpaired UTF-16 surrogates" in error["message"]
        assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert (await gql.data("{ customer(id: 778) { id } }"))["customer"] is None


async def test_graphql_and_rest_refuse_unstorable_text_with_one_message(
    gql: GraphQLClient, http: httpx.AsyncClient
) -> None:
    # when the same unstorable value reaches both faces
    graphql = await post_ascii_json(
        http,
        "/graphql",
        {"query": "query($id: String!) { promotion(id: $id) { id } }", "variables": {"id": f"a{SURROGATE}"}},
        gql,
    )
    rest = await post_ascii_json(
        http, "/api_gateway/v1/promotions/redemptions", {"transactionIdentifier": f"a{SURROGATE}"}, gql
    )
    # then both say the one guard's words
    assert rest.status_code == 400
    assert graphql.json()["errors"][0]["message"].lower().rstrip(".") == UNSTORABLE_TEXT_MESSAGE.lower()
    assert rest.json()["errors"][0]["message"] == UNSTORABLE_TEXT_MESSAGE
