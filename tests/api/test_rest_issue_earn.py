"""issueBulk and earn/bulk over REST: repeats, per-entry failures, and agreement with GraphQL
(the same services answer both)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from app.domain.models import PromotionType
from app.persistence.database import Database
from tests.api.rest_support import RestClient
from tests.support import ClientCredentials, GraphQLClient
from tests.wallet_world import insert_promotion

WALLET = (
    """query($id: Long!) { wallet(customerId: $id) { edges { node { id promotionId earnedFromId } } } }"""
)


@pytest.fixture
def rest(http: httpx.AsyncClient, org_clients: dict[str, ClientCredentials]) -> RestClient:
    return RestClient(http, org_clients["writer"])


async def test_a_repeated_issue_returns_already_issued_and_new_entries_alike(
    rest: RestClient, gql: GraphQLClient, database: Database
) -> None:
    # given one customer already issued the promotion in this context
    promotion = await insert_promotion(database, "69117663b1cfc114606fd7fb")
    await gql.create_customers(566881933, 566135941)
    first = await rest.post(f"/{promotion.id}/issueBulk", [566881933], params={"contextId": "ctx"})

    # when the request names it again, with a new customer, a duplicate and a numeric string
    second = await rest.post(
        f"/{promotion.id}/issueBulk", ["566135941", 566881933, 566135941], params={"contextId": "ctx"}
    )

    # then every distinct customer of the request appears, the repeat with its existing entry
    assert second.status_code == 200, second.text
    data = second.json()["data"]
    assert list(data) == ["566135941", "566881933"]
    assert data["566881933"] == first.json()["data"]["566881933"]
    assert data["566135941"]["customerId"] == 566135941
    wallet = await gql.data(WALLET, {"id": 566881933})
    assert [e["node"]["id"] for e in wallet["wallet"]["edges"]] == [data["566881933"]["id"]]


async def test_earn_entries_fail_on_their_own_with_error_details(
    rest: RestClient, gql: GraphQLClient, database: Database
) -> None:
    # given one earnable promotion, one of type CODE, and an unknown one
    good = await insert_promotion(database, "6912ced9d39e256f754a83f8", max_earns_per_customer=2)
    code = await insert_promotion(database, "6912cfff6629ee07040e15ef", type_=PromotionType.CODE)
    await gql.create_customers(566881933)
    body: dict[str, Any] = {
        "customerId": "566881933",
        "eventTime": 1761750000000,
        "earnedFromType": "ACTIVITY",
        "eventDetails": {"id": "evt-1", "type": "ACTIVITY"},
        "earnedPromotions": [
            {"promotionId": good.id, "earnCount": 3, "earnedFromId": "purchase-1"},
            {"promotionId": code.id, "earnCount": 1, "earnedFromId": "purchase-1"},
            {"promotionId": "ffffffffffffffffffffffff", "earnCount": 1, "earnedFromId": "purchase-1"},
        ],
    }

    # when
    response = await rest.post("/earn/bulk", body)

    # then
    assert response.status_code == 200, response.text
    payload = response.json()
    assert payload["errors"] == []
    limited, unsupported, unknown = payload["data"]
    assert (limited["successfulEarnCount"], limited["failedEarnCount"]) == (2, 1)
    assert limited["errorDetails"]["errorCode"] == 400 and limited["errorDetails"]["errorMessages"]
    assert len(limited["customerEarnedPromotions"]) == 2
    assert unsupported["errorDetails"]["errorCode"] == 714 and unsupported["customerEarnedPromotions"] == []
    assert unknown["errorDetails"]["errorCode"] == 404
    assert set(unknown) == {
        "earnedFromId",
        "promotionId",
        "successfulEarnCount",
        "failedEarnCount",
        "errorDetails",
        "customerEarnedPromotions",
    }
    for entry in limited["customerEarnedPromotions"]:
        assert entry["customerId"] == 566881933 and entry["earnedFromType"] == "ACTIVITY"
        assert entry["eventDetails"] == {"id": "evt-1", "type": "ACTIVITY"}

    # and a repeat creates nothing more, and has no errorDetails where nothing failed
    again = await rest.post("/earn/bulk", body | {"earnedPromotions": body["earnedPromotions"][:1]})
    assert again.json()["data"][0]["customerEarnedPromotions"] == limited["customerEarnedPromotions"]
    no_failure = await rest.post(
        "/earn/bulk",
        body | {"earnedPromotions": [{"promotionId": good.id, "earnCount": 2, "earnedFromId": "purchase-1"}]},
    )
    assert "errorDetails" not in no_failure.json()["data"][0]
