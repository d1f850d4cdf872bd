"""The REST routes' failures: authentication, scopes, the org header, malformed bodies, and the
HTTP status of every error code, always as {"errors": [{"code", "message"}]}."""

from __future__ import annotations

import logging
from typing import Any

import httpx
import pytest

from app.auth.routes import WWW_AUTHENTICATE
from app.domain.errors import CustomerLookupFailed, InternalFailure, ResourceLocked
from app.domain.models import PromotionType
from app.persistence.database import Database
from app.persistence.uow import SqlUnitOfWorkFactory
from app.rest import routes
from app.rest.errors import HTTP_STATUS
from app.services import admin
from tests.api.rest_support import (
    PREFIXES,
    RestClient,
    error_of,
    update_settings,
)
from tests.conftest import ORG_ID
from tests.support import ClientCredentials, GraphQLClient
from tests.wallet_world import insert_promotion

REDEEM = {
    "customerId": 566881933,
    "transactionIdentifier": "txn-1",
    "transactionNumber": "txn-1",
    "transactionDate": 1743521508000,
    "amount": 1000,
    "redemptions": [
        {
            "promotionId": "67e3c1073919452f135e2da0",
            "redemptionCount": 1,
            "discount": 500,
            "discountAppliedOnQuantity": 1,
            "promotionAppliedOnQuantity": 1,
        }
    ],
}
EARN = {
    "customerId": 566881933,
    "eventTime": 1761750000000,
    "earnedFromType": "BULK_ISSUE",
    "eventDetails": {"id": "6911e951f57b486147effa6c", "type": "BULK_ISSUE"},
    "earnedPromotions": [
        {
            "promotionId": "6912ced9d39e256f754a83f8",
            "earnCount": 1,
            "earnedFromId": "68fb1c9731d91c625a8d9e80",
        }
    ],
}


@pytest.fixture
def rest(http: httpx.AsyncClient, org_clients: dict[str, ClientCredentials]) -> RestClient:
    return RestClient(http, org_clients["writer"])


async def _every_route(client: RestClient) -> list[httpx.Response]:
    return [
        await client.post("/67e3c1073919452f135e2da0/issueBulk", [566881933], params={"contextId": "c"}),
        await client.post("/earn/bulk", EARN),
        await client.post("/redemptions", REDEEM),
        await client.get("/customer/566881933"),
    ]


# ---------------------------------------------------------------------------------------------
# Authentication, scopes, org header


@pytest.mark.parametrize("prefix", PREFIXES)
@pytest.mark.parametrize(
    "authorization", [None, "Basic bm9ib2R5Om5vdGhpbmc=", "Basic !!!", "Bearer not-a-token", "Digest x"]
)
async def test_every_route_answers_401_with_www_authenticate_without_valid_credentials(
    rest: RestClient, prefix: str, authorization: str | None
) -> None:
    # given
    client = rest.as_(None).under(prefix)
    headers = {"Authorization": authorization} if authorization else {}

    # when
    responses = [
        await client.post("/earn/bulk", EARN, headers=headers),
        await client.post("/redemptions", content=b"{not json", headers=headers),
        await client.get("/customer/566881933", headers=headers),
    ]

    # then
    for response in responses:
        assert error_of(response)[:2] == (401, 401)
        assert response.headers["WWW-Authenticate"] == WWW_AUTHENTICATE


async def test_a_bearer_token_from_oauth_token_is_accepted(
    http: httpx.AsyncClient, org_clients: dict[str, ClientCredentials], gql: GraphQLClient
) -> None:
    # given a token for the reader client, and a customer
    token = await http.post(
        "/oauth/token", data={"grant_type": "client_credentials"}, headers=org_clients["reader"].headers
    )
    await gql.create_customers(566881933)

    # when
    response = await http.get(
        "/v1/promotions/customer/566881933",
        headers={"Authorization": f"Bearer {token.json()['access_token']}"},
    )

    # then
    assert response.status_code == 200, response.text


async def test_writes_need_wallet_write_and_reads_need_wallet_read(
    rest: RestClient, org_clients: dict[str, ClientCredentials], database: Database
) -> None:
    # given a reader, and a client with the admin scope only
    admin_only = await admin.create_client(
        SqlUnitOfWorkFactory(database),
        org_id=ORG_ID,
        name="admin-only",
        scopes=["admin"],
        username="admin-only",
        password="secret",
    )
    reader = rest.as_(org_clients["reader"])
    no_wallet = rest.as_(ClientCredentials(admin_only.username, admin_only.password))

    # when
    reader_responses = (await _every_route(reader))[:3]
    admin_read = await no_wallet.get("/customer/566881933")

    # then 403 with code 403, naming the scope
    for response in reader_responses:
        status, code, message = error_of(response)
        assert (status, code) == (403, 403) and "wallet:write" in message
    status, code, message = error_of(admin_read)
    assert (status, code) == (403, 403) and "wallet:read" in message


async def test_the_org_header_must_name_the_callers_org(rest: RestClient, gql: GraphQLClient) -> None:
    # given
    await gql.create_customers(566881933)

    # when
    other = await rest.get("/customer/566881933", headers={"X-CAP-API-AUTH-ORG-ID": "4000004"})
    garbage = await rest.get("/customer/566881933", headers={"X-CAP-API-AUTH-ORG-ID": "org"})
    own = await rest.get("/customer/566881933", headers={"X-CAP-API-AUTH-ORG-ID": str(ORG_ID)})

    # then
    for response in (other, garbage):
        status, code, message = error_of(response)
        assert (status, code) == (400, 400) and "X-CAP-API-AUTH-ORG-ID" in message
    assert own.status_code == 200, own.text


async def test_another_orgs_data_is_not_found(
    rest: RestClient, other_org_clients: dict[str, ClientCredentials], gql: GraphQLClient, database: Database
) -> None:
    # given a customer and a promotion of org 100737
    await gql.create_customers(566881933)
    promotion = await insert_promotion(database, "69117663b1cfc114606fd7fb")
    stranger = rest.as_(other_org_clients["writer"])

    # when another org's client asks for them
    wallet = await stranger.get("/customer/566881933")
    issued = await stranger.post(f"/{promotion.id}/issueBulk", [566881933], params={"contextId": "c"})

    # then the wallet is as empty as an unknown customer's, and the promotion is not found
    assert wallet.status_code == 200 and wallet.json()["data"]["customerEarnedPromotions"] == []
    assert error_of(issued)[:2] == (404, 404)


# ---------------------------------------------------------------------------------------------
# Malformed requests: 400 in the same shape, never 422


@pytest.mark.parametrize(
    ("path", "content"),
    [
        ("/redemptions", b"{not json"),
        ("/redemptions", b""),
        ("/redemptions", b"[1, 2]"),
        ("/redemptions", b'{"amount": NaN}'),
        ("/earn/bulk", b'{"customerId": 1,'),
        ("/earn/bulk", b"\xff\xfe\x00"),
        ("/67e3c1073919452f135e2da0/issueBulk?contextId=c", b'{"customerIds": [1]}'),
        ("/67e3c1073919452f135e2da0/issueBulk?contextId=c", b"[1"),
    ],
)
async def test_malformed_json_is_a_400(rest: RestClient, path: str, content: bytes) -> None:
    response = await rest.post(path, content=content)
    assert error_of(response)[:2] == (400, 400)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"amount": "a lot"}, "amount"),
        ({"amount": True}, "amount"),
        ({"transactionDate": "yesterday"}, "transactionDate"),
        ({"transactionDate": 1.5}, "transactionDate"),
        ({"transactionDate": 2**63}, "transactionDate"),
        ({"transactionIdentifier": 50}, "transactionIdentifier"),
        ({"transactionNumber": None}, "transactionNumber"),
        ({"customerId": "five"}, "customerId"),
        ({"customerIdentifierType": "fax", "customerIdentifierValue": "1"}, "customerIdentifierType"),
        ({"redemptions": {"promotionId": "x"}}, "redemptions"),
        ({"redemptions": [{"promotionId": "x"}]}, "redemptions[0].redemptionCount"),
        ({"redemptions": [REDEEM["redemptions"][0] | {"redemptionCount": 2**40}]}, "redemptionCount"),
    ],
)
async def test_wrong_types_in_the_redeem_body_are_a_400_naming_the_field(
    rest: RestClient, change: dict[str, Any], field: str
) -> None:
    response = await rest.post("/redemptions", REDEEM | change)
    status, code, message = error_of(response)
    assert (status, code) == (400, 400)
    assert field in message


@pytest.mark.parametrize(
    "change",
    [
        {"earnedFromType": "GIFT"},
        {"eventDetails": "BULK_ISSUE"},
        {"earnedPromotions": [{"promotionId": "x", "earnCount": "one", "earnedFromId": "y"}]},
        {"eventTime": None},
    ],
)
async def test_wrong_types_in_the_earn_body_are_a_400(rest: RestClient, change: dict[str, Any]) -> None:
    response = await rest.post("/earn/bulk", EARN | change)
    assert error_of(response)[:2] == (400, 400)


async def test_text_a_database_cannot_store_is_a_400(rest: RestClient) -> None:
    # given NUL characters in a body field, a path parameter and a query parameter
    responses = [
        await rest.post("/redemptions", REDEEM | {"transactionIdentifier": "txn\u0000"}),
        await rest.post("/67e3c1073919452f135e2da0%00/issueBulk", [1], params={"contextId": "c"}),
        await rest.post("/67e3c1073919452f135e2da0/issueBulk", [1], params={"contextId": "c\u0000"}),
        await rest.post("/redemptions", content=b'{"transactionNumber": "\\ud800"}'),
    ]
    # then
    for response in responses:
        assert error_of(response)[:2] == (400, 400)


async def test_query_and_path_parameters_are_checked_in_the_same_shape(rest: RestClient) -> None:
    responses = [
        await rest.post("/67e3c1073919452f135e2da0/issueBulk", [1]),  # no contextId
        await rest.get("/customer/abc"),
        await rest.get("/customer/1", params={"limit": 101}),
        await rest.get("/customer/1", params={"limit": "ten"}),
        await rest.get("/customer/1", params={"status": "SPENT"}),
    ]
    for response in responses:
        assert error_of(response)[:2] == (400, 400), response.text


async def test_graphql_keeps_its_own_error_handling(
    http: httpx.AsyncClient, org_clients: dict[str, Any]
) -> None:
    # when GraphQL gets a malformed body
    response = await http.post(
        "/graphql",
        content=b"{not json",
        headers=org_clients["writer"].headers | {"Content-Type": "application/json"},
    )
    # then not the REST error shape: a GraphQL error, its code in extensions
    assert response.status_code == 400
    [error] = response.json()["errors"]
    assert "code" not in error and error["extensions"]["code"] == "BAD_REQUEST", response.text


# ---------------------------------------------------------------------------------------------
# Domain errors: code and HTTP status


async def test_issue_refusals_keep_their_codes(
    rest: RestClient, gql: GraphQLClient, database: Database
) -> None:
    # given promotions that cannot be issued, and one customer
    pos = await insert_promotion(database, "000000000000000000000707", type_=PromotionType.POS)
    code = await insert_promotion(database, "000000000000000000000714", type_=PromotionType.CODE)
    expired = await insert_promotion(database, "000000000000000000000706", active=False)
    good = await insert_promotion(database, "69117663b1cfc114606fd7fb")
    await gql.create_customers(566881933)

    async def issue(promotion_id: str, body: Any, context_id: str = "ctx") -> tuple[int, int, str]:
        return error_of(await rest.post(f"/{promotion_id}/issueBulk", body, params={"contextId": context_id}))

    # then
    assert (await issue("ffffffffffffffffffffffff", [566881933]))[:2] == (404, 404)
    assert (await issue(pos.id, [566881933]))[:2] == (400, 707)
    assert (await issue(code.id, [566881933]))[:2] == (400, 714)
    assert (await issue(expired.id, [566881933]))[:2] == (400, 706)
    assert (await issue(good.id, []))[:2] == (400, 1006)
    assert (await issue(good.id, [566881933, None]))[:2] == (400, 1006)
    assert (await issue(good.id, [566881933, "abc", -1, 1.5]))[:2] == (400, 1006)
    status, code_, message = await issue(good.id, [566881933, 42])
    assert (status, code_) == (404, 404) and "42" in message
    assert (await issue(good.id, [566881933], context_id=""))[:2] == (400, 400)
    assert (await issue(good.id, [566881933], context_id="x" * 251))[:2] == (400, 400)


async def test_a_full_org_cap_is_705(rest: RestClient, gql: GraphQLClient, database: Database) -> None:
    # given two active promotions in an org capped at one
    await insert_promotion(database, "69117663b1cfc114606fd7fa")
    promotion = await insert_promotion(database, "69117663b1cfc114606fd7fb")
    await gql.create_customers(566881933)
    await update_settings(gql, maxActivePromotions=1)

    # when
    response = await rest.post(f"/{promotion.id}/issueBulk", [566881933], params={"contextId": "c"})

    # then
    assert error_of(response)[:2] == (400, 705)


async def test_earn_request_refusals_keep_their_codes(rest: RestClient, gql: GraphQLClient) -> None:
    await gql.create_customers(566881933)
    assert error_of(await rest.post("/earn/bulk", EARN | {"customerId": 0}))[:2] == (400, 1006)
    assert error_of(await rest.post("/earn/bulk", EARN | {"customerId": None}))[:2] == (400, 1006)
    assert error_of(await rest.post("/earn/bulk", EARN | {"customerId": 77}))[:2] == (404, 404)
    assert error_of(await rest.post("/earn/bulk", EARN | {"orgId": 4000004}))[:2] == (400, 400)
    assert error_of(await rest.post("/earn/bulk", EARN | {"earnedPromotions": []}))[:2] == (400, 400)
    mismatch = EARN | {"eventDetails": {"id": "e", "type": "ACTIVITY"}}
    assert error_of(await rest.post("/earn/bulk", mismatch))[:2] == (400, 400)


async def test_redemption_refusals_keep_their_codes(
    rest: RestClient, gql: GraphQLClient, database: Database
) -> None:
    # given the customer and a wallet promotion it has not earned
    await gql.create_customers(566881933)
    await insert_promotion(database, "67e3c1073919452f135e2da0")

    # then
    assert error_of(await rest.post("/redemptions", REDEEM | {"customerId": 1}))[:2] == (404, 404)
    assert error_of(await rest.post("/redemptions", REDEEM | {"amount": 1}))[:2] == (400, 400)
    beyond_9999 = REDEEM | {"transactionDate": 2**62}  # a Long, but no ISO date can say it
    assert error_of(await rest.post("/redemptions", beyond_9999))[:2] == (400, 400)
    assert error_of(await rest.post("/redemptions", REDEEM))[:2] == (400, 400)  # not earned
    unknown = REDEEM | {
        "redemptions": [REDEEM["redemptions"][0] | {"promotionId": "ffffffffffffffffffffffff"}]
    }
    assert error_of(await rest.post("/redemptions", unknown))[:2] == (404, 404)


async def test_redemption_without_evaluation_off_is_http_405(rest: RestClient, gql: GraphQLClient) -> None:
    # given
    await gql.create_customers(566881933)
    await update_settings(gql, redemptionWithoutEvaluation=False)

    # when
    response = await rest.post("/redemptions", REDEEM)

    # then
    assert error_of(response)[:2] == (405, 405)
    assert response.headers["Allow"] == "POST"


async def test_an_invalid_web_engage_account_is_http_406(rest: RestClient, gql: GraphQLClient) -> None:
    await gql.create_customers(566881933)
    await update_settings(gql, webEngageAccountId="NOT VALID!")
    assert error_of(await rest.post("/redemptions", REDEEM))[:2] == (406, 406)


@pytest.mark.parametrize(
    ("error", "retry_after"),
    [
        (ResourceLocked("The wallet is busy; retry", retry_after_ms=1500), "2"),
        (ResourceLocked("The wallet is busy; retry"), "1"),
        (CustomerLookupFailed("Customer lookup failed; retry"), "1"),
    ],
)
async def test_retryable_errors_are_503_with_retry_after(
    rest: RestClient, monkeypatch: pytest.MonkeyPatch, error: Exception, retry_after: str
) -> None:
    # given a service that cannot get its lock or look the customer up
    async def refuse(*args: Any, **kwargs: Any) -> Any:
        raise error

    monkeypatch.setattr(routes.redeem, "redeem_promotions", refuse)

    # when
    response = await rest.post("/redemptions", REDEEM)

    # then the code stays, the status says "later"
    status, code, _ = error_of(response)
    assert (status, code) == (503, int(error.code))  # type: ignore[attr-defined]
    assert response.headers["Retry-After"] == retry_after


@pytest.mark.parametrize(
    "failure", [RuntimeError("connection string postgres://secret"), InternalFailure("org gone")]
)
async def test_unexpected_failures_are_a_logged_and_masked_500(
    rest: RestClient, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, failure: Exception
) -> None:
    # given
    async def explode(*args: Any, **kwargs: Any) -> Any:
        raise failure

    monkeypatch.setattr(routes.earn, "earn_promotions", explode)

    # when
    with caplog.at_level(logging.ERROR, logger="app.rest"):
        response = await rest.post("/earn/bulk", EARN)

    # then
    status, code, message = error_of(response)
    assert (status, code) == (500, 500)
    assert str(failure) not in message
    assert str(failure) in caplog.text


def test_every_documented_code_has_a_status() -> None:
    from app.domain.errors import ErrorCode

    assert {int(code) for code in ErrorCode} <= set(HTTP_STATUS)
    assert HTTP_STATUS[521] == HTTP_STATUS[1007] == 503
    assert {HTTP_STATUS[c] for c in (400, 705, 706, 707, 713, 714, 1006)} == {400}
