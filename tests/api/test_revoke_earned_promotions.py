"""revokeEarnedPromotions over real HTTP against a running server (one per module, an org per test)."""

from __future__ import annotations

from typing import Any

import pytest

from app.domain.clock import DAY_MS, now_ms
from app.persistence.uow import SqlUnitOfWorkFactory
from app.services import admin
from tests.support import basic_auth
from tests.wallet_world import World, line, purchase

REVOKE = """mutation($customerId: Long!, $ids: [String!]!) {
  revokeEarnedPromotions(customerId: $customerId, earnedPromotionIds: $ids) { __typename
    ... on RevokeEarnedPromotionsSuccess { revokedCount
        results { earnedPromotionId revoked error { __typename code
                  ... on PromotionNotRedeemableError { reason } } } }
    ... on Error { code message }
    ... on InvalidRequestError { field }
    ... on CustomerNotFoundError { customerIds } } }"""


async def revoke(world: World, customer_id: int, ids: list[str]) -> dict[str, Any]:
    body = await world.gql(REVOKE, {"customerId": customer_id, "ids": ids})
    assert "errors" not in body, body
    return body["data"]["revokeEarnedPromotions"]  # type: ignore[no-any-return]


async def test_unredeemed_entries_are_revoked_with_a_ledger_row_each(world: World) -> None:
    # given: a two-use entry and a locked one
    promotion = await world.promotion(max_redemptions=2)
    upcoming = await world.promotion(start=now_ms() + DAY_MS)
    customer = await world.customer(31)
    [first] = await world.entries(customer, promotion)
    [locked] = await world.entries(customer, upcoming)
    # when
    result = await revoke(world, customer, [first, locked])
    # then
    assert result == {
        "__typename": "RevokeEarnedPromotionsSuccess",
        "revokedCount": 2,
        "results": [
            {"earnedPromotionId": first, "revoked": True, "error": None},
            {"earnedPromotionId": locked, "revoked": True, "error": None},
        ],
    }
    assert await world.ledger() == [("REVOKED", first, -2, "revoke"), ("REVOKED", locked, -1, "revoke")]
    wallet = await world.gql(
        "query($id: Long!) { wallet(customerId: $id) { edges { node { status } } } }", {"id": customer}
    )
    assert {edge["node"]["status"] for edge in wallet["data"]["wallet"]["edges"]} == {"REVOKED"}
    # and a revoked entry cannot be redeemed
    redeemed = await world.redeem(**purchase(customer, line(promotion)))
    assert (redeemed["__typename"], redeemed["reason"]) == ("PromotionNotRedeemableError", "REVOKED")


async def test_each_id_gets_its_own_result(world: World) -> None:
    # given
    promotion = await world.promotion(max_redemptions=2)
    customer = await world.customer(32)
    await world.customer(33)
    [fresh, partly_used, already_revoked] = await world.entries(customer, promotion, 3)
    [theirs] = await world.entries(33, promotion)
    await world.redeem(**purchase(customer, line(promotion, earnedPromotionId=partly_used)))
    await revoke(world, customer, [already_revoked])
    # when
    result = await revoke(world, customer, [fresh, partly_used, already_revoked, theirs, "unknown", fresh])
    # then: one result per distinct id, in request order
    assert result["revokedCount"] == 1
    assert result["results"] == [
        {"earnedPromotionId": fresh, "revoked": True, "error": None},
        {
            "earnedPromotionId": partly_used,
            "revoked": False,
            "error": {"__typename": "PromotionNotRedeemableError", "code": 400, "reason": "ALREADY_REDEEMED"},
        },
        {"earnedPromotionId": already_revoked, "revoked": True, "error": None},
        {
            "earnedPromotionId": theirs,
            "revoked": False,
            "error": {"__typename": "EarnedPromotionNotFoundError", "code": 404},
        },
        {
            "earnedPromotionId": "unknown",
            "revoked": False,
            "error": {"__typename": "EarnedPromotionNotFoundError", "code": 404},
        },
    ]
    assert await world.used(partly_used) == 1
    assert [row[1] for row in await world.ledger() if row[0] == "REVOKED"] == [already_revoked, fresh]


async def test_revoking_again_is_a_no_op_success(world: World) -> None:
    promotion = await world.promotion()
    customer = await world.customer(34)
    [entry] = await world.entries(customer, promotion)
    first = await revoke(world, customer, [entry])
    again = await revoke(world, customer, [entry])
    assert (first["revokedCount"], again["revokedCount"]) == (1, 0)
    assert again["results"] == [{"earnedPromotionId": entry, "revoked": True, "error": None}]
    assert len(await world.ledger()) == 1


@pytest.mark.parametrize("count", [0, 1001])
async def test_the_id_list_must_have_1_to_1000_entries(world: World, count: int) -> None:
    await world.customer(35)
    result = await revoke(world, 35, [f"id-{n}" for n in range(count)])
    assert (result["__typename"], result["code"], result["field"]) == (
        "InvalidRequestError",
        400,
        "earnedPromotionIds",
    )


async def test_a_thousand_ids_are_accepted(world: World) -> None:
    promotion = await world.promotion()
    customer = await world.customer(36)
    entries = await world.entries(customer, promotion, 10)
    result = await revoke(world, customer, entries + [f"missing-{n}" for n in range(990)])
    assert result["revokedCount"] == 10
    assert len(result["results"]) == 1000


async def test_an_unknown_customer_is_404(world: World) -> None:
    result = await revoke(world, 5668819330, ["x"])
    assert (result["__typename"], result["code"], result["customerIds"]) == (
        "CustomerNotFoundError",
        404,
        [5668819330],
    )


async def test_a_non_positive_customer_id_is_400(world: World) -> None:
    result = await revoke(world, 0, ["x"])
    assert (result["__typename"], result["field"]) == ("InvalidRequestError", "customerId")


async def test_a_reader_cannot_revoke(world: World) -> None:
    await admin.create_client(
        SqlUnitOfWorkFactory(world.database),
        org_id=world.org_id,
        name="reader",
        scopes=["wallet:read"],
        username=f"reader-{world.org_id}",
        password="reader-secret",
    )
    body = await world.gql(
        REVOKE,
        {"customerId": 1, "ids": ["x"]},
        headers=basic_auth(f"reader-{world.org_id}", "reader-secret"),
    )
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
