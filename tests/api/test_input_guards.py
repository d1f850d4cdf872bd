"""Inputs that once reached the database and came back as server errors."""

from __future__ import annotations

import base64
import json

import httpx
import pytest

from app.domain.text import UNSTORABLE_TEXT_MESSAGE, has_unstorable_text
from app.graphql import extensions
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


class WalkSpy:
    """Records every value the GraphQL text guard walks (it still answers as the guard does)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.walked: list[object] = []
        monkeypatch.setattr(extensions, "has_unstorable_text", self)

    def __call__(self, value: object) -> bool:
        self.walked.append(value)
        return has_unstorable_text(value)


LOOKUP = "query($id: String!) { promotion(id: $id) { id } }"


async def test_a_body_without_any_escape_is_not_walked_by_the_text_guard(
    gql: GraphQLClient, http: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given
    spy = WalkSpy(monkeypatch)
    # when a body of plain text, an emoji sent as raw UTF-8 included, is posted
    body = json.dumps({"query": LOOKUP, "variables": {"id": "plain 😀 text"}}, ensure_ascii=False)
    response = await http.post(
        "/graphql", content=body.encode(), headers={"content-type": "application/json", **gql.default.headers}
    )
    # then it is answered without its variables being walked
    assert response.json() == {"data": {"promotion": None}}
    assert {"id": "plain 😀 text"} not in spy.walked


async def test_a_body_with_an_escaped_nul_is_walked_and_refused(
    gql: GraphQLClient, http: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given
    spy = WalkSpy(monkeypatch)
    # when the NUL arrives as the escape \u0000, next to an escape-free emoji
    response = await post_ascii_json(http, "/graphql", {"query": LOOKUP, "variables": {"id": "a\x00😀"}}, gql)
    # then
    [error] = response.json()["errors"]
    assert error["message"].lower().rstrip(".") == UNSTORABLE_TEXT_MESSAGE.lower()
    assert {"id": "a\x00😀"} in spy.walked


async def test_variables_of_a_get_query_are_walked_by_the_text_guard(
    gql: GraphQLClient, http: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given
    spy = WalkSpy(monkeypatch)
    # when the same escape-free variables, and then a NUL, arrive in a query string
    plain = await http.get(
        "/graphql", params={"query": LOOKUP, "variables": '{"id": "plain"}'}, headers=gql.default.headers
    )
    nul = await http.get(
        "/graphql", params={"query": LOOKUP, "variables": '{"id": "a\\u0000"}'}, headers=gql.default.headers
    )
    # then both were walked, and the NUL refused
    assert plain.json() == {"data": {"promotion": None}}
    assert {"id": "plain"} in spy.walked
    [error] = nul.json()["errors"]
    assert error["message"].lower().rstrip(".") == UNSTORABLE_TEXT_MESSAGE.lower()
