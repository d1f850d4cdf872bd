"""Hostile and careless clients (issue #22): what once reached a server error, stalled or let a
client guess is now a typed client error, refused before anything runs."""

from __future__ import annotations

import json
import logging
from typing import Any

import httpx
import pytest

from app.domain.clock import now_ms
from app.settings import Settings
from tests.support import ClientCredentials, GraphQLClient

SURROGATE = "\\ud83d"  # as a JSON encoder writes half an emoji: JSON carries it, no database stores it
REST = "/api_gateway/v1/promotions"


async def post_raw(
    http: httpx.AsyncClient, path: str, raw: str | bytes, gql: GraphQLClient
) -> httpx.Response:
    content = raw.encode() if isinstance(raw, str) else raw
    return await http.post(
        path, content=content, headers={"content-type": "application/json", **gql.default.headers}
    )


def _json_with(value: Any, marker: str = "@S@") -> str:
    """`value` as JSON with every `marker` replaced by an escaped unpaired surrogate."""
    return json.dumps(value).replace(marker, SURROGATE)


# Every operation the probe of issue #22 saw answer a retryable InternalError.
SURROGATE_OPERATIONS = {
    "issue contextId": (
        "mutation($p: String!, $c: String!) { issuePromotion(promotionId: $p, contextId: $c, "
        "customerIds: [5]) { __typename } }",
        {"p": "@P@", "c": "ctx@S@"},
    ),
    "issue promotionId": (
        "mutation($p: String!) { issuePromotion(promotionId: $p, contextId: \"c\", customerIds: [5]) "
        "{ __typename } }",
        {"p": "@S@"},
    ),
    "redeem transactionIdentifier": (
        "mutation($i: RedeemPromotionsInput!) { redeemPromotions(input: $i) { __typename } }",
        {"i": {"customerId": 5, "transactionIdentifier": "t@S@", "transactionNumber": "n",
               "transactionDate": 1, "amount": "1", "redemptions": [{"promotionId": "@P@",
               "redemptionCount": 1, "discount": "1"}]}},
    ),
    "redeem customerIdentifierValue": (
        "mutation($i: RedeemPromotionsInput!) { redeemPromotions(input: $i) { __typename } }",
        {"i": {"customerIdentifierType": "MOBILE", "customerIdentifierValue": "9@S@",
               "transactionIdentifier": "t", "transactionNumber": "n", "transactionDate": 1,
               "amount": "1",
               "redemptions": [{"promotionId": "@P@", "redemptionCount": 1, "discount": "1"}]}},
    ),
    "earn earnedFromId": (
        "mutation($i: EarnPromotionsInput!) { earnPromotions(input: $i) { __typename } }",
        {"i": {"customerId": 5, "eventTime": 1, "earnedFromType": "BULK_ISSUE",
               "eventDetails": {"id": "e@S@", "type": "BULK_ISSUE"},
               "earnedPromotions": [{"promotionId": "@P@", "earnCount": 1, "earnedFromId": "f@S@"}]}},
    ),
    "revoke ids": (
        "mutation($ids: [String!]!) { revokeEarnedPromotions(customerId: 5, earnedPromotionIds: $ids) "
        "{ __typename } }",
        {"ids": ["@S@"]},
    ),
    "createCustomer": (
        "mutation($i: CreateCustomerInput!) { createCustomer(input: $i) { __typename } }",
        {"i": {"id": 77, "email": "a@S@@example.com"}},
    ),
    "createPromotion": (
        "mutation($i: CreatePromotionInput!) { createPromotion(input: $i) { __typename } }",
        {"i": {"name": "n@S@", "type": "CUSTOMER", "startDate": 1, "endDate": 2}},
    ),
    "updateOrgSettings": (
        "mutation($i: UpdateOrgSettingsInput!) { updateOrgSettings(input: $i) { __typename } }",
        {"i": {"timezone": "UTC@S@"}},
    ),
    "promotion(id:)": ("query($id: String!) { promotion(id: $id) { id } }", {"id": "@S@"}),
    "hold": ("query($id: String!) { hold(id: $id) { id } }", {"id": "h@S@"}),
}


@pytest.mark.parametrize("operation", sorted(SURROGATE_OPERATIONS))
async def test_an_unpaired_surrogate_is_a_client_error_on_every_operation_never_a_retryable_internal_error(
    gql: GraphQLClient, http: httpx.AsyncClient, operation: str
) -> None:
    # given a customer and a promotion the operation could reach
    await gql.create_customers(5)
    promotion = await gql.create_promotion()
    query, variables = SURROGATE_OPERATIONS[operation]
    raw = _json_with({"query": query, "variables": variables}).replace("@P@", promotion["id"])
    # when
    response = await post_raw(http, "/graphql", raw, gql)
    # then a client error before anything ran: no payload, no InternalError, not retryable
    body = response.json()
    assert body["data"] is None, body
    [error] = body["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert "InternalError" not in response.text and "retry" not in response.text.lower()
    assert (await gql.data("{ customer(id: 77) { id } }"))["customer"] is None


async def test_an_unpaired_surrogate_as_the_operation_name_is_a_400_not_an_unencodable_answer(
    gql: GraphQLClient, http: httpx.AsyncClient
) -> None:
    # Strawberry echoed the unknown name into a plain-text 400 it could not encode: a 500.
    for query in ("query A { __typename }", "mutation A { __typename }"):
        raw = _json_with({"query": query, "operationName": "@S@"})
        response = await post_raw(http, "/graphql", raw, gql)
        assert response.status_code == 400, response.text
        assert "unpaired UTF-16 surrogates" in response.json()["errors"][0]["message"]


MALFORMED_BODIES = {
    "nested 100,000 deep": b"[" * 100_000,
    "nested past the depth limit": (
        b'{"query": "{ __typename }", "variables": {"a": ' + b"[" * 40 + b"]" * 40 + b"}}"
    ),
    "invalid UTF-8": b'{"query": "{ __typename \xff\xfe }"}',
    "not JSON": b"{not json",
}


@pytest.mark.parametrize("name", sorted(MALFORMED_BODIES))
async def test_a_malformed_graphql_body_is_a_400_json_with_a_request_id_and_one_quiet_log_line(
    gql: GraphQLClient, http: httpx.AsyncClient, caplog: pytest.LogCaptureFixture, name: str
) -> None:
    # when
    with caplog.at_level(logging.DEBUG, logger="app"):
        response = await post_raw(http, "/graphql", MALFORMED_BODIES[name], gql)
    # then
    assert response.status_code == 400, response.text
    [error] = response.json()["errors"]
    assert error["extensions"]["code"] == "BAD_REQUEST"
    assert error["extensions"]["requestId"] == response.headers["x-request-id"]
    ours = [r for r in caplog.records if r.name.startswith("app.") and r.name != "app.access"]
    assert [(r.levelno, r.exc_info) for r in ours] == [(logging.INFO, None)], [r.getMessage() for r in ours]


async def test_a_graphql_document_over_the_byte_limit_is_refused_before_it_is_parsed(
    gql: GraphQLClient, http: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given a lexer that would say so if it were reached
    import graphql.language.parser as parser

    parsed: list[int] = []
    original = parser.Parser.__init__

    def recording(self: Any, source: Any, *args: Any, **kwargs: Any) -> None:
        parsed.append(1)
        original(self, source, *args, **kwargs)

    monkeypatch.setattr(parser.Parser, "__init__", recording)
    padded = "mutation { __typename" + " " * (300 * 1024) + "}"
    # when a padded document is sent plain and with an Idempotency-Key
    plain = await http.post("/graphql", json={"query": padded}, headers=gql.default.headers)
    keyed = await http.post(
        "/graphql", json={"query": padded}, headers=gql.default.headers | {"Idempotency-Key": "pad-1"}
    )
    # then both are refused, with the size and the limit, and nothing parsed the document
    for response in (plain, keyed):
        assert response.status_code == 413, response.text
        [error] = response.json()["errors"]
        assert error["extensions"]["code"] == "DOCUMENT_TOO_LARGE"
        assert error["extensions"]["maxBytes"] == 256 * 1024
        assert error["extensions"]["size"] > 300 * 1024
    assert parsed == []


async def test_a_padded_document_megabytes_long_is_refused_without_decoding_its_body(
    gql: GraphQLClient, http: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    import app.graphql.idempotency as idempotency_face
    import app.graphql.router as router

    decoded: list[int] = []

    def recording(raw: Any, **kwargs: Any) -> Any:
        decoded.append(len(raw))
        return json.loads(raw)

    monkeypatch.setattr(router, "decode_json_body", recording)
    monkeypatch.setattr(idempotency_face, "decode_json_body", recording)
    padded = "mutation { __typename" + " " * (2 * 1024 * 1024) + "}"
    for headers in ({}, {"Idempotency-Key": "pad-2"}):
        response = await http.post("/graphql", json={"query": padded}, headers=gql.default.headers | headers)
        assert response.status_code == 413, response.text
        assert response.json()["errors"][0]["extensions"]["code"] == "DOCUMENT_TOO_LARGE"
    assert decoded == []


async def test_long_lists_still_pass_as_variables_under_the_document_limit(gql: GraphQLClient) -> None:
    # when 20,000 customers are imported with a short document and long variables (about 600 KB)
    customers = [{"id": 1000 + i, "externalId": f"ext-{i:06d}-{'x' * 8}"} for i in range(20_000)]
    body = await gql(
        "mutation($c: [CreateCustomerInput!]!) { importCustomers(customers: $c) { __typename } }",
        {"c": customers},
    )
    # then
    assert body["data"]["importCustomers"]["__typename"] == "ImportCustomersSuccess", body


EVERY_WALLET_FIELD = """edges { cursor node { id promotionId status redemptionsAllowed redemptionsUsed
  redemptionsHeld validTill validTillISO earnedFromType earnedFromId eventTime
  promotion { id name type status startDate endDate } } } pageInfo { hasNextPage endCursor } totalCount"""


async def test_fifteen_aliased_wallet_pages_of_100_are_refused_as_too_costly_before_execution(
    gql: GraphQLClient, session_kinds: list[tuple[bool, bool]]
) -> None:
    # given a warm authenticator (its own lookup is not the query's)
    await gql("{ __typename }")
    session_kinds.clear()
    page = f"wallet(customerId: 5, first: 100) {{ {EVERY_WALLET_FIELD} }}"
    aliases = " ".join(f"w{i}: {page}" for i in range(15))
    # when
    body = await gql(f"{{ {aliases} }}")
    # then refused with the computed cost, and no database session was opened for it
    assert body["data"] is None
    [error] = body["errors"]
    assert error["extensions"]["code"] == "QUERY_TOO_COSTLY"
    default_max = Settings(_env_file=None).max_query_cost  # type: ignore[call-arg]
    assert error["extensions"]["cost"] > error["extensions"]["maxCost"] == default_max
    assert session_kinds == []


async def test_one_wallet_page_of_100_with_every_field_is_under_the_cost_limit(gql: GraphQLClient) -> None:
    await gql.create_customers(5)
    data = await gql.data(f"{{ wallet(customerId: 5, first: 100) {{ {EVERY_WALLET_FIELD} }} }}")
    assert data["wallet"]["totalCount"] == 0


async def test_first_given_as_a_variable_counts_in_the_cost(gql: GraphQLClient) -> None:
    query = f"query($n: Int!) {{ a: wallet(customerId: 5, first: $n) {{ {EVERY_WALLET_FIELD} }} "
    query += f"b: wallet(customerId: 5, first: $n) {{ {EVERY_WALLET_FIELD} }} "
    query += f"c: wallet(customerId: 5, first: $n) {{ {EVERY_WALLET_FIELD} }} }}"
    refused = await gql(query, {"n": 100})
    allowed = await gql(query, {"n": 10})
    assert refused["errors"][0]["extensions"]["code"] == "QUERY_TOO_COSTLY"
    assert "errors" not in allowed, allowed


# ---------------------------------------------------------------------------------------------
# REST: content types, query strings, blank identifiers, digits


async def test_rest_refuses_a_json_body_sent_as_text_plain_with_415(
    http: httpx.AsyncClient, org_clients: dict[str, ClientCredentials]
) -> None:
    response = await http.post(
        f"{REST}/redemptions",
        content=b'{"transactionIdentifier": "t"}',
        headers=org_clients["writer"].headers | {"content-type": "text/plain"},
    )
    assert response.status_code == 415, response.text
    assert response.json()["errors"][0]["code"] == 415


async def test_rest_refuses_a_query_string_that_is_not_utf8_instead_of_storing_a_replacement_character(
    http: httpx.AsyncClient, gql: GraphQLClient
) -> None:
    # given
    await gql.create_customers(5)
    promotion = await gql.create_promotion()
    # when contextId is the byte 0xFF, percent-encoded
    response = await http.post(
        f"{REST}/{promotion['id']}/issueBulk?contextId=%FF", json=[5], headers=gql.default.headers
    )
    # then
    assert response.status_code == 400, response.text
    wallet = await gql.data("{ wallet(customerId: 5) { totalCount } }")
    assert wallet["wallet"]["totalCount"] == 0


async def test_graphql_refuses_a_get_query_string_that_is_not_utf8(
    http: httpx.AsyncClient, gql: GraphQLClient
) -> None:
    response = await http.get("/graphql?query=%7B__typename%7D&variables=%7B%22a%22%3A%22%FF%22%7D",
                              headers=gql.default.headers)
    assert response.status_code == 400, response.text
    assert response.json()["errors"][0]["extensions"]["code"] == "BAD_REQUEST"


async def test_a_blank_context_id_is_refused_like_a_blank_transaction_identifier(
    http: httpx.AsyncClient, gql: GraphQLClient
) -> None:
    # given
    await gql.create_customers(5)
    promotion = await gql.create_promotion()
    # when
    rest = await http.post(
        f"{REST}/{promotion['id']}/issueBulk?contextId=%20", json=[5], headers=gql.default.headers
    )
    graphql = await gql(
        "mutation($p: String!) { issuePromotion(promotionId: $p, contextId: \"  \", customerIds: [5]) "
        "{ __typename ... on Error { code } } }",
        {"p": promotion["id"]},
    )
    # then both refuse it, and nothing was issued
    assert rest.status_code == 400, rest.text
    assert graphql["data"]["issuePromotion"]["__typename"] == "InvalidRequestError"
    assert (await gql.data("{ wallet(customerId: 5) { totalCount } }"))["wallet"]["totalCount"] == 0


async def test_a_decimal_written_in_arabic_indic_digits_is_refused_on_both_faces(
    http: httpx.AsyncClient, gql: GraphQLClient
) -> None:
    body = {
        "customerId": 5, "transactionIdentifier": "t-digits", "transactionNumber": "n",
        "transactionDate": now_ms(), "amount": "١٢٣",
        "redemptions": [{"promotionId": "p", "redemptionCount": 1, "discount": "1"}],
    }
    rest = await http.post(f"{REST}/redemptions", json=body, headers=gql.default.headers)
    graphql = await gql(
        "mutation($i: RedeemPromotionsInput!) { redeemPromotions(input: $i) { __typename } }", {"i": body}
    )
    assert rest.status_code == 400, rest.text
    assert graphql["data"] is None and "Decimal" in graphql["errors"][0]["message"]


async def test_the_openapi_org_header_is_a_string_never_null(http: httpx.AsyncClient) -> None:
    document = (await http.get("/openapi.json")).json()
    for path in document["paths"].values():
        for operation in path.values():
            for parameter in operation.get("parameters", []):
                if parameter["name"] == "X-CAP-API-AUTH-ORG-ID":
                    assert parameter["schema"]["type"] == "string"
                    assert "anyOf" not in parameter["schema"]
