"""GET .../customer/{customerId}: the wallet, soonest-expiring first, in keyset pages."""

from __future__ import annotations

import httpx
import pytest

from app.domain.clock import DAY_MS, now_ms
from app.persistence.database import Database
from tests.api.rest_support import PREFIXES, RestClient, error_of
from tests.support import ClientCredentials, GraphQLClient
from tests.wallet_world import insert_promotion

ENTRY_KEYS = {
    "id",
    "customerId",
    "promotionId",
    "earnedFromType",
    "earnedFromId",
    "eventTime",
    "eventTimeISO",
    "eventDetails",
    "validTill",
    "validTillISO",
    "status",
    "redemptionsAllowed",
    "redemptionsUsed",
    "redemptionsHeld",
    "redemptionsRemaining",
    "redeemable",
    "validTillLocal",
}


@pytest.fixture
def rest(http: httpx.AsyncClient, org_clients: dict[str, ClientCredentials]) -> RestClient:
    return RestClient(http, org_clients["writer"])


async def _issue_three(rest: RestClient, database: Database) -> list[str]:
    """Three promotions issued to customer 566881933, ending in 10, 20 and 30 days."""
    now = now_ms()
    ids = []
    for days, promotion_id in (
        (30, "aaaaaaaaaaaaaaaaaaaaaa30"),
        (10, "aaaaaaaaaaaaaaaaaaaaaa10"),
        (20, "aaaaaaaaaaaaaaaaaaaaaa20"),
    ):
        await insert_promotion(database, promotion_id, end_date=now + days * DAY_MS)
        response = await rest.post(f"/{promotion_id}/issueBulk", [566881933], params={"contextId": "wallet"})
        assert response.status_code == 200, response.text
        ids.append(response.json()["data"]["566881933"]["id"])
    return ids


@pytest.mark.parametrize("prefix", PREFIXES)
async def test_the_wallet_pages_through_every_entry_soonest_expiring_first(
    rest: RestClient,
    gql: GraphQLClient,
    database: Database,
    org_clients: dict[str, ClientCredentials],
    prefix: str,
) -> None:
    # given
    await gql.create_customers(566881933)
    issued = await _issue_three(rest, database)
    reader = rest.as_(org_clients["reader"]).under(prefix)

    # when
    first = await reader.get("/customer/566881933", params={"limit": 2})
    second = await reader.get(
        "/customer/566881933", params={"limit": 2, "cursor": first.json()["data"]["nextCursor"]}
    )

    # then
    assert first.status_code == second.status_code == 200, (first.text, second.text)
    page1, page2 = first.json()["data"], second.json()["data"]
    assert [e["promotionId"][-2:] for e in page1["customerEarnedPromotions"]] == ["10", "20"]
    assert [e["promotionId"][-2:] for e in page2["customerEarnedPromotions"]] == ["30"]
    assert isinstance(page1["nextCursor"], str) and page2["nextCursor"] is None
    entries = page1["customerEarnedPromotions"] + page2["customerEarnedPromotions"]
    assert {e["id"] for e in entries} == set(issued)
    for entry in entries:
        assert set(entry) == ENTRY_KEYS
        assert entry["status"] == "UNLOCKED" and entry["redemptionsUsed"] == 0
        assert entry["earnedFromType"] == "BULK_ISSUE" and entry["earnedFromId"] == "wallet"
        assert entry["eventDetails"] == {"id": "wallet", "type": "BULK_ISSUE"}


async def test_the_wallet_filters_by_status_and_promotion(
    rest: RestClient, gql: GraphQLClient, database: Database
) -> None:
    # given
    await gql.create_customers(566881933)
    await _issue_three(rest, database)

    # when
    redeemed = await rest.get("/customer/566881933", params={"status": ["REDEEMED", "EXPIRED"]})
    one = await rest.get("/customer/566881933", params={"promotionId": "aaaaaaaaaaaaaaaaaaaaaa20"})

    # then
    assert redeemed.json()["data"]["customerEarnedPromotions"] == []
    assert [e["promotionId"] for e in one.json()["data"]["customerEarnedPromotions"]] == [
        "aaaaaaaaaaaaaaaaaaaaaa20"
    ]


async def test_an_unknown_customers_wallet_is_empty_on_both_faces_and_an_invalid_id_is_1006(
    rest: RestClient, gql: GraphQLClient
) -> None:
    # when a customer nobody created is read over REST and over GraphQL
    response = await rest.get("/customer/566881933")
    graphql = await gql.data("{ wallet(customerId: 566881933) { totalCount edges { cursor } } }")
    # then both answer the same empty wallet (one rule, in the wallet service)
    assert response.status_code == 200
    assert response.json()["data"] == {
        "customerId": 566881933,
        "customerEarnedPromotions": [],
        "nextCursor": None,
    }
    assert graphql["wallet"] == {"totalCount": 0, "edges": []}
    assert error_of(await rest.get("/customer/0"))[:2] == (400, 1006)
    assert error_of(await rest.get(f"/customer/{2**63}"))[:2] == (400, 1006)


async def test_page_size_and_cursor_errors_name_the_rest_parameters(
    rest: RestClient, gql: GraphQLClient
) -> None:
    # given
    await gql.create_customers(566881933)

    # when
    too_many = await rest.get("/customer/566881933", params={"limit": 101})
    bad_cursor = await rest.get("/customer/566881933", params={"cursor": "not-a-cursor"})

    # then
    status, code, message = error_of(too_many)
    assert (status, code) == (400, 400) and "limit" in message
    status, code, message = error_of(bad_cursor)
    assert (status, code) == (400, 400) and "cursor" in message and "after" not in message
