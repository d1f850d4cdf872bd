"""Each spec page's example request, replayed against the REST routes, answers the page's example
response key by key: same keys, same value types and formats, and the same values wherever
they are not generated ids.

The pages' dates are in the past. Issue and earn take the request's clock reading from the REST
layer (`app.rest.routes.now_ms`), which these tests set to an instant of the page's time, so
validTill and eventTime are reproduced exactly (org 100737 is in Asia/Kolkata, as on the pages).
"""

from __future__ import annotations

import copy
from typing import Any

import httpx
import pytest

from app.domain.models import PromotionType
from app.persistence.database import Database
from app.rest import routes
from app.rest.schemas import (
    EARN_REQUEST_EXAMPLE,
    EARN_RESPONSE_EXAMPLE,
    ISSUE_RESPONSE_EXAMPLE,
    REDEEM_REQUEST_EXAMPLE,
    REDEEM_RESPONSE_EXAMPLE,
)
from tests.api.rest_support import (
    PREFIXES,
    RestClient,
    assert_same_shape,
    insert_earned,
    without_ids,
)
from tests.conftest import ORG_ID
from tests.support import ClientCredentials, GraphQLClient
from tests.wallet_world import insert_promotion

# 2025-05-31T23:59:59.999+05:30 and 2025-12-31T23:59:59.999+05:30: the pages' validTill values.
END_OF_MAY_IST = 1748716199999
END_OF_2025_IST = 1767205799999


@pytest.fixture
def rest(http: httpx.AsyncClient, org_clients: dict[str, ClientCredentials]) -> RestClient:
    return RestClient(http, org_clients["writer"])


def clock_at(monkeypatch: pytest.MonkeyPatch, instant: int) -> None:
    monkeypatch.setattr(routes, "now_ms", lambda: instant)


@pytest.mark.parametrize("prefix", PREFIXES)
async def test_issue_bulk_replays_the_issue_page_example(
    rest: RestClient, gql: GraphQLClient, database: Database, monkeypatch: pytest.MonkeyPatch, prefix: str
) -> None:
    # given the page's promotion (ending on 31 May 2025 in the org's timezone) and customer
    example = ISSUE_RESPONSE_EXAMPLE["data"]["564332013"]
    issued_at = example["eventTime"]
    await insert_promotion(
        database, example["promotionId"], start_date=issued_at - 10 * 86_400_000, end_date=END_OF_MAY_IST
    )
    await gql.create_customers(564332013)
    clock_at(monkeypatch, issued_at)

    # when the page's request is sent (the response shows its contextId as earnedFromId)
    response = await rest.under(prefix).post(
        f"/{example['promotionId']}/issueBulk", [564332013], params={"contextId": example["earnedFromId"]}
    )

    # then the page's response, but for the generated id
    assert response.status_code == 200, response.text
    body = response.json()
    assert_same_shape(body, ISSUE_RESPONSE_EXAMPLE)
    assert without_ids(body) == without_ids(ISSUE_RESPONSE_EXAMPLE)


async def test_issue_bulk_replays_the_two_customer_request_of_the_page(
    rest: RestClient, gql: GraphQLClient, database: Database
) -> None:
    # given
    promotion = await insert_promotion(database, "69117663b1cfc114606fd7fb")
    await gql.create_customers(566881933, 566135941)

    # when
    response = await rest.post(
        f"/{promotion.id}/issueBulk", [566881933, 566135941], params={"contextId": "68fb1c9731d91c625a8d9e80"}
    )

    # then one entry per customer, each shaped like the page's
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert list(data) == ["566881933", "566135941"]
    for customer_id, entry in data.items():
        assert_same_shape(entry, ISSUE_RESPONSE_EXAMPLE["data"]["564332013"])
        assert entry["customerId"] == int(customer_id)
        assert entry["promotionId"] == promotion.id
        assert entry["earnedFromId"] == "68fb1c9731d91c625a8d9e80"


def _by_promotion(results: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {result["promotionId"]: result for result in results}


@pytest.mark.parametrize("prefix", PREFIXES)
async def test_earn_bulk_replays_the_bulk_earn_page_example(
    rest: RestClient, gql: GraphQLClient, database: Database, monkeypatch: pytest.MonkeyPatch, prefix: str
) -> None:
    # given the page's two promotions, ending with 2025 in the org's timezone, and its customer
    event_time = EARN_REQUEST_EXAMPLE["eventTime"]
    for entry in EARN_REQUEST_EXAMPLE["earnedPromotions"]:
        await insert_promotion(
            database, entry["promotionId"], start_date=event_time - 86_400_000, end_date=END_OF_2025_IST
        )
    await gql.create_customers(566881933)
    clock_at(monkeypatch, event_time + 60_000)

    # when the page's request is sent
    response = await rest.under(prefix).post("/earn/bulk", EARN_REQUEST_EXAMPLE)

    # then the page's response: the same results (the page lists them in another order than the
    # request; ours follow the request) with generated ids
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["errors"] == []
    assert [r["promotionId"] for r in body["data"]] == [
        e["promotionId"] for e in EARN_REQUEST_EXAMPLE["earnedPromotions"]
    ]
    actual, expected = _by_promotion(body["data"]), _by_promotion(EARN_RESPONSE_EXAMPLE["data"])
    assert set(actual) == set(expected)
    for promotion_id, result in actual.items():
        assert_same_shape(result, expected[promotion_id])
        assert without_ids(result) == without_ids(expected[promotion_id])


# What the redeem route's record has beyond the spec page's (DESIGN §8.1): the redemption's id, the
# one the reversals route takes, its status and its reversals.
REDEMPTION_ADDITIONS = {"id", "status", "reversals"}


def spec_fields(body: dict[str, Any]) -> dict[str, Any]:
    """The body without the additions, which must be there, as a new redemption has them."""
    data = body["data"]
    assert set(data) >= REDEMPTION_ADDITIONS, data
    assert data["status"] == "ACTIVE" and data["reversals"] == [] and len(data["id"]) == 24, data
    return body | {"data": {k: v for k, v in data.items() if k not in REDEMPTION_ADDITIONS}}


@pytest.mark.parametrize("prefix", PREFIXES)
async def test_redemptions_replays_the_redeem_page_example(
    http: httpx.AsyncClient,
    org_clients: dict[str, ClientCredentials],
    gql: GraphQLClient,
    database: Database,
    prefix: str,
) -> None:
    # given the page's customer (with its mobile), promotion and earned promotion
    line = REDEEM_REQUEST_EXAMPLE["lineItems"][0]
    promotion = await insert_promotion(database, line["promotionId"])
    await gql.create_customers(566881933, mobile="1234512345")
    await insert_earned(database, promotion, entry_id=line["earnedPromotionId"], customer_id=566881933)

    # when the page's request is sent; its X-CAP-API-AUTH-ORG-ID (4000004) is not the org of its
    # own response (100737), so the header names the caller's org
    response = await http.post(
        f"{prefix}/redemptions",
        json=REDEEM_REQUEST_EXAMPLE,
        headers=org_clients["writer"].headers | {"X-CAP-API-AUTH-ORG-ID": str(ORG_ID)},
    )

    # then exactly the page's response
    assert response.status_code == 200, response.text
    body = spec_fields(response.json())
    assert_same_shape(body, REDEEM_RESPONSE_EXAMPLE)
    assert body == REDEEM_RESPONSE_EXAMPLE
    assert '"amount":1000.0' in response.text
    assert isinstance(body["data"]["customerId"], int)  # sent as the string "566881933"


async def test_the_redeem_example_sent_again_returns_the_recorded_redemption(
    rest: RestClient, gql: GraphQLClient, database: Database
) -> None:
    # given the example, recorded once
    line = REDEEM_REQUEST_EXAMPLE["lineItems"][0]
    promotion = await insert_promotion(database, line["promotionId"])
    await gql.create_customers(566881933, mobile="1234512345")
    await insert_earned(database, promotion, entry_id=line["earnedPromotionId"], customer_id=566881933)
    first = await rest.post("/redemptions", REDEEM_REQUEST_EXAMPLE)
    assert first.status_code == 200, first.text

    # when the same request comes again under the other prefix, and with the identifier type in
    # another case
    again = await rest.under(PREFIXES[1]).post("/redemptions", REDEEM_REQUEST_EXAMPLE)
    shouted = copy.deepcopy(REDEEM_REQUEST_EXAMPLE) | {"customerIdentifierType": "MOBILE"}
    third = await rest.post("/redemptions", shouted)

    # then the recorded redemption each time (the entry allowed one redemption only)
    assert again.status_code == 200 and spec_fields(again.json()) == REDEEM_RESPONSE_EXAMPLE
    assert again.json()["data"]["id"] == first.json()["data"]["id"]
    assert third.status_code == 200, third.text
    third_spec = spec_fields(third.json())["data"]
    assert third_spec | {"customerIdentifierType": "mobile"} == REDEEM_RESPONSE_EXAMPLE["data"]
    assert third.json()["data"]["customerIdentifierType"] == "MOBILE"


async def test_earned_promotions_of_the_examples_are_in_the_customer_wallet(
    rest: RestClient, gql: GraphQLClient, database: Database, org_clients: dict[str, ClientCredentials]
) -> None:
    # given the earn example, earned now
    for entry in EARN_REQUEST_EXAMPLE["earnedPromotions"]:
        await insert_promotion(database, entry["promotionId"], type_=PromotionType.EARNING)
    await gql.create_customers(566881933)
    earned = await rest.post("/earn/bulk", EARN_REQUEST_EXAMPLE)
    assert earned.status_code == 200, earned.text

    # when a reader reads the wallet
    response = await rest.as_(org_clients["reader"]).get("/customer/566881933")

    # then both entries, with the earn response's fields and their state
    assert response.status_code == 200, response.text
    wallet = response.json()["data"]
    assert wallet["customerId"] == 566881933 and wallet["nextCursor"] is None
    earned_entries = {x["id"]: x for r in earned.json()["data"] for x in r["customerEarnedPromotions"]}
    assert {x["id"] for x in wallet["customerEarnedPromotions"]} == set(earned_entries)
    for entry in wallet["customerEarnedPromotions"]:
        state = {
            "status": "UNLOCKED",
            "redemptionsAllowed": 1,
            "redemptionsUsed": 0,
            "redemptionsHeld": 0,
            "redemptionsRemaining": 1,
            "redeemable": True,
        }
        local = entry.pop("validTillLocal")
        assert entry == earned_entries[entry["id"]] | state
        assert local.endswith(".999+05:30")  # the seed org's Asia/Kolkata
