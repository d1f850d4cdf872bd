"""reverseRedemption and its REST twin over real HTTP (one live server per module, an org per
test): the payloads and statuses each face gives, that a refused reversal writes nothing in any
table, and that the redemption reads show what was reversed. The rules themselves are proven on
fakes in tests/services/test_reverse.py."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from app.persistence.tables import (
    earned_promotion_table,
    redemption_reversal_line_table,
    redemption_reversal_table,
    wallet_ledger_table,
)
from app.persistence.uow import SqlUnitOfWorkFactory
from app.services import admin
from tests.lifecycle_documents import REVERSE
from tests.support import basic_auth
from tests.wallet_world import World, line, purchase

REST = "/api_gateway/v1/promotions"


async def reverse(world: World, **input_: Any) -> dict[str, Any]:
    body = await world.gql(REVERSE, {"input": input_})
    assert "errors" not in body, body
    return body["data"]["reverseRedemption"]  # type: ignore[no-any-return]


async def redeemed_twice(world: World, customer: int = 566881933) -> tuple[str, str, dict[str, Any]]:
    """A two-use entry, both uses redeemed by transaction txn-1: (promotion, entry, redemption)."""
    promotion = await world.promotion(max_redemptions=2)
    await world.customer(customer)
    [entry] = await world.entries(customer, promotion)
    result = await world.redeem(**purchase(customer, line(promotion, count=2), txn="txn-1"))
    assert result["__typename"] == "RedeemPromotionsSuccess", result
    return promotion.id, entry, result["redemption"]


async def table_counts(world: World) -> tuple[int, ...]:
    """Rows of the tables a reversal writes, and the entries' used counts."""
    async with world.database.reader.connect() as connection:
        counts = []
        for table in (redemption_reversal_table, redemption_reversal_line_table, wallet_ledger_table):
            counts.append(
                int((await connection.execute(select(func.count()).select_from(table))).scalar_one())
            )
        used = (
            await connection.execute(
                select(func.coalesce(func.sum(earned_promotion_table.c.redemptions_used), 0))
            )
        ).scalar_one()
    return (*counts, int(used))


# --- GraphQL ---------------------------------------------------------------------------------------


async def test_a_full_reversal_gives_the_entry_back_and_the_redemption_shows_it(world: World) -> None:
    promotion, entry, redemption = await redeemed_twice(world)
    # when
    result = await reverse(
        world, transactionIdentifier="txn-1", reversalIdentifier="refund-1", reason="order cancelled"
    )
    # then
    assert result["__typename"] == "ReverseRedemptionSuccess", result
    reversal = result["reversal"]
    assert reversal["lines"] == [{"promotionId": promotion, "earnedPromotionId": entry, "redemptionCount": 2}]
    assert (reversal["redemptionId"], reversal["reason"]) == (redemption["id"], "order cancelled")
    assert reversal["createdAtISO"].endswith("Z")
    assert result["redemption"]["status"] == "REVERSED"
    assert result["redemption"]["reversals"] == [reversal]
    assert await world.used(entry) == 0
    assert (await world.ledger())[-1] == ("REVERSED", entry, 2, "refund-1")
    wallet = await world.gql(
        "query($id: Long!) { wallet(customerId: $id) { edges { node { status redemptionsUsed } } } }",
        {"id": 566881933},
    )
    assert wallet["data"]["wallet"]["edges"] == [{"node": {"status": "UNLOCKED", "redemptionsUsed": 0}}]


async def test_the_redemptions_query_shows_status_and_reversals(world: World) -> None:
    promotion, _, redemption = await redeemed_twice(world)
    await reverse(
        world,
        redemptionId=redemption["id"],
        reversalIdentifier="refund-1",
        lines=[{"promotionId": promotion, "redemptionCount": 1}],
    )
    # when
    body = await world.gql(
        '{ redemptions(transactionIdentifier: "txn-1") { edges { node { status '
        "reversals { reversalIdentifier lines { redemptionCount } } } } } }"
    )
    # then
    assert body["data"]["redemptions"]["edges"] == [
        {
            "node": {
                "status": "PARTIALLY_REVERSED",
                "reversals": [{"reversalIdentifier": "refund-1", "lines": [{"redemptionCount": 1}]}],
            }
        }
    ]


async def test_each_refusal_is_its_typed_error_and_writes_nothing(world: World) -> None:
    await redeemed_twice(world)
    await reverse(world, transactionIdentifier="txn-1", reversalIdentifier="refund-1")
    before = await table_counts(world)
    # when: an unknown redemption, more than is left, the same identifier with other content, no name
    unknown = await reverse(world, redemptionId="0" * 24, reversalIdentifier="refund-2")
    exceeds = await reverse(world, transactionIdentifier="txn-1", reversalIdentifier="refund-3")
    reused = await reverse(world, transactionIdentifier="txn-1", reversalIdentifier="refund-1", reason="x")
    unnamed = await reverse(world, reversalIdentifier="refund-4")
    # then
    assert (unknown["__typename"], unknown["code"], unknown["retryable"]) == (
        "RedemptionNotFoundError",
        404,
        False,
    )
    assert (exceeds["__typename"], exceeds["code"]) == ("ReversalExceedsRedemptionError", 400)
    assert (reused["__typename"], reused["field"]) == ("InvalidRequestError", "reversalIdentifier")
    assert (unnamed["__typename"], unnamed["field"]) == ("InvalidRequestError", "redemptionId")
    assert await table_counts(world) == before


async def test_a_read_only_client_cannot_reverse(world: World) -> None:
    await redeemed_twice(world)
    await admin.create_client(
        SqlUnitOfWorkFactory(world.database),
        org_id=world.org_id,
        name="reader",
        scopes=["wallet:read"],
        username=f"reader-{world.org_id}",
        password="reader-secret",
    )
    body = await world.gql(
        REVERSE,
        {"input": {"transactionIdentifier": "txn-1", "reversalIdentifier": "refund-1"}},
        headers=basic_auth(f"reader-{world.org_id}", "reader-secret"),
    )
    assert body["data"] is None and body["errors"][0]["extensions"]["code"] == "FORBIDDEN", body


# --- REST ------------------------------------------------------------------------------------------


async def test_the_rest_twin_reverses_and_answers_in_the_rest_field_style(world: World) -> None:
    promotion, entry, redemption = await redeemed_twice(world)
    # when
    response = await world.http.post(
        f"{REST}/redemptions/{redemption['id']}/reversals",
        json={"reversalIdentifier": "refund-1", "lines": [{"promotionId": promotion, "redemptionCount": 1}]},
        headers=world.headers,
    )
    # then
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert data["reversal"]["lines"] == [
        {"promotionId": promotion, "earnedPromotionId": entry, "redemptionCount": 1}
    ]
    assert data["redemption"]["transactionIdentifier"] == "txn-1"
    assert data["redemption"]["id"] == redemption["id"]
    assert data["redemption"]["status"] == "PARTIALLY_REVERSED"
    assert data["redemption"]["reversals"] == [data["reversal"]]
    assert await world.used(entry) == 1


async def test_the_rest_twin_answers_errors_in_the_rest_error_shape_and_writes_nothing(world: World) -> None:
    promotion, _, redemption = await redeemed_twice(world)
    before = await table_counts(world)
    url = f"{REST}/redemptions/{redemption['id']}/reversals"
    # when
    unknown = await world.http.post(
        f"{REST}/redemptions/{'0' * 24}/reversals", json={"reversalIdentifier": "r"}, headers=world.headers
    )
    exceeds = await world.http.post(
        url,
        json={"reversalIdentifier": "r", "lines": [{"promotionId": promotion, "redemptionCount": 3}]},
        headers=world.headers,
    )
    malformed = await world.http.post(url, json={"lines": "all"}, headers=world.headers)
    # then
    assert (unknown.status_code, unknown.json()["errors"][0]["code"]) == (404, 404)
    assert (exceeds.status_code, exceeds.json()["errors"][0]["code"]) == (400, 400)
    assert (malformed.status_code, malformed.json()["errors"][0]["code"]) == (400, 400)
    assert await table_counts(world) == before


async def test_the_redeem_response_names_the_redemption_id_the_reversals_route_takes(world: World) -> None:
    promotion = await world.promotion()
    await world.customer(9)
    await world.entries(9, promotion)
    body = purchase(9, line(promotion), txn="txn-rest")
    response = await world.http.post(f"{REST}/redemptions", json=body, headers=world.headers)
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert (data["status"], data["reversals"]) == ("ACTIVE", [])
    reversed_ = await world.http.post(
        f"{REST}/redemptions/{data['id']}/reversals",
        json={"reversalIdentifier": "r-1"},
        headers=world.headers,
    )
    assert reversed_.status_code == 200 and reversed_.json()["data"]["redemption"]["status"] == "REVERSED"
