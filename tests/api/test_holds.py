"""holdPromotions / commitHold / releaseHold / hold(id) and their REST twins over real HTTP (one live
server per module, an org per test): the payloads and statuses each face gives, the wallet's
redemptionsHeld, and that a refused request writes nothing. The rules themselves are proven on fakes
in tests/services/test_holds.py."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from app.persistence.tables import hold_allocation_table, hold_table, wallet_ledger_table
from tests.lifecycle_documents import COMMIT_HOLD, HOLD, READ_HOLD, RELEASE_HOLD
from tests.wallet_world import World, line, purchase

REST = "/api_gateway/v1/promotions"
CUSTOMER = 566881933
WALLET = """query($id: Long!) { wallet(customerId: $id) {
  edges { node { id status redemptionsUsed redemptionsHeld } } } }"""


async def call(world: World, document: str, field: str, variables: dict[str, Any]) -> dict[str, Any]:
    body = await world.gql(document, variables)
    assert "errors" not in body, body
    return body["data"][field]  # type: ignore[no-any-return]


async def hold(world: World, **input_: Any) -> dict[str, Any]:
    return await call(world, HOLD, "holdPromotions", {"input": input_})


async def single_use_entry(world: World) -> tuple[str, str]:
    promotion = await world.promotion(max_redemptions=1)
    await world.customer(CUSTOMER)
    [entry] = await world.entries(CUSTOMER, promotion)
    return promotion.id, entry


async def wallet(world: World) -> list[dict[str, Any]]:
    body = await world.gql(WALLET, {"id": CUSTOMER})
    return [edge["node"] for edge in body["data"]["wallet"]["edges"]]


async def table_counts(world: World) -> tuple[int, ...]:
    async with world.database.reader.connect() as connection:
        return tuple(
            [
                int((await connection.execute(select(func.count()).select_from(table))).scalar_one())
                for table in (hold_table, hold_allocation_table, wallet_ledger_table)
            ]
        )


# --- GraphQL ---------------------------------------------------------------------------------------


async def test_a_hold_shows_in_the_wallet_as_held_and_refuses_a_redemption_with_reason_held(
    world: World,
) -> None:
    promotion, entry = await single_use_entry(world)
    # when
    result = await hold(world, redemption=purchase(CUSTOMER, line(promotion), txn="pay-1"), holdSeconds=60)
    # then
    assert result["__typename"] == "HoldPromotionsSuccess", result
    held = result["hold"]
    assert (held["status"], held["transactionIdentifier"], held["customerId"]) == ("HELD", "pay-1", CUSTOMER)
    assert held["expiresAtISO"].endswith("Z") and held["redemption"] is None
    assert held["lineItems"] == [{"promotionId": promotion, "earnedPromotionId": None, "redemptionCount": 1}]
    assert await wallet(world) == [
        {"id": entry, "status": "UNLOCKED", "redemptionsUsed": 0, "redemptionsHeld": 1}
    ]
    refused = await world.redeem(**purchase(CUSTOMER, line(promotion), txn="other"))
    assert (refused["__typename"], refused["reason"]) == ("PromotionNotRedeemableError", "HELD")
    again = await world.redeem(**purchase(CUSTOMER, line(promotion), txn="pay-1"))
    assert (again["__typename"], again["field"]) == ("InvalidRequestError", "transactionIdentifier")
    assert (await world.ledger())[-1] == ("HELD", entry, 0, held["id"])


async def test_commit_records_the_redemption_once_and_hold_reads_it(world: World) -> None:
    promotion, entry = await single_use_entry(world)
    held = (await hold(world, redemption=purchase(CUSTOMER, line(promotion), txn="pay-1")))["hold"]
    # when
    first = await call(world, COMMIT_HOLD, "commitHold", {"id": held["id"]})
    second = await call(world, COMMIT_HOLD, "commitHold", {"id": held["id"]})
    # then
    assert first["__typename"] == "RedeemPromotionsSuccess", first
    assert second == first
    redemption = first["redemption"]
    assert redemption["consumed"] == [{"earnedPromotionId": entry, "promotionId": promotion, "count": 1}]
    assert await world.used(entry) == 1
    assert await wallet(world) == [
        {"id": entry, "status": "REDEEMED", "redemptionsUsed": 1, "redemptionsHeld": 0}
    ]
    read = (await world.gql(READ_HOLD, {"id": held["id"]}))["data"]["hold"]
    assert read["status"] == "COMMITTED" and read["redemption"]["id"] == redemption["id"]
    assert (await world.ledger())[-2:] == [
        ("RELEASED", entry, 0, held["id"]),
        ("REDEEMED", entry, -1, "pay-1"),
    ]


async def test_release_frees_the_entry_and_is_idempotent_and_a_released_hold_cannot_be_committed(
    world: World,
) -> None:
    promotion, _ = await single_use_entry(world)
    held = (await hold(world, redemption=purchase(CUSTOMER, line(promotion), txn="pay-1")))["hold"]
    # when
    released = await call(world, RELEASE_HOLD, "releaseHold", {"id": held["id"]})
    counts = await table_counts(world)
    again = await call(world, RELEASE_HOLD, "releaseHold", {"id": held["id"]})
    commit = await call(world, COMMIT_HOLD, "commitHold", {"id": held["id"]})
    # then
    assert released["__typename"] == "ReleaseHoldSuccess" and released["hold"]["status"] == "RELEASED"
    assert again == released
    assert (commit["__typename"], commit["code"], commit["retryable"]) == ("HoldExpiredError", 400, False)
    assert await table_counts(world) == counts
    assert (await wallet(world))[0]["redemptionsHeld"] == 0
    redeemed = await world.redeem(**purchase(CUSTOMER, line(promotion), txn="pay-1"))
    assert redeemed["__typename"] == "RedeemPromotionsSuccess", redeemed


async def test_refused_holds_write_nothing(world: World) -> None:
    promotion, _ = await single_use_entry(world)
    counts = await table_counts(world)
    # when
    too_long = await hold(world, redemption=purchase(CUSTOMER, line(promotion)), holdSeconds=86_401)
    unknown_customer = await hold(world, redemption=purchase(CUSTOMER + 1, line(promotion)))
    unknown_promotion = await hold(world, redemption=purchase(CUSTOMER, line("0" * 24)))
    # then
    assert (too_long["__typename"], too_long["field"]) == ("InvalidRequestError", "holdSeconds")
    assert (unknown_customer["__typename"], unknown_customer["code"]) == ("CustomerNotFoundError", 404)
    assert unknown_promotion["__typename"] == "PromotionNotFoundError"
    assert await table_counts(world) == counts


async def test_an_unknown_hold_is_hold_not_found_and_reads_as_null(world: World) -> None:
    for document, field in ((COMMIT_HOLD, "commitHold"), (RELEASE_HOLD, "releaseHold")):
        result = await call(world, document, field, {"id": "0" * 24})
        assert (result["__typename"], result["code"]) == ("HoldNotFoundError", 404)
    assert (await world.gql(READ_HOLD, {"id": "0" * 24}))["data"]["hold"] is None


# --- REST ------------------------------------------------------------------------------------------


async def test_rest_hold_commit_and_release_answer_in_the_rest_field_style(world: World) -> None:
    promotion, entry = await single_use_entry(world)
    body = purchase(CUSTOMER, line(promotion), txn="rest-1") | {"holdSeconds": 120}
    # when
    made = await world.http.post(f"{REST}/holds", json=body, headers=world.headers)
    held = made.json()["data"]
    committed = await world.http.post(f"{REST}/holds/{held['id']}/commit", headers=world.headers)
    released = await world.http.post(f"{REST}/holds/{held['id']}/release", headers=world.headers)
    # then
    assert made.status_code == 200, made.text
    assert (held["status"], held["transactionIdentifier"], held["redemption"]) == ("HELD", "rest-1", None)
    assert held["expiresAt"] > 0 and held["lineItems"][0]["discount"] == "100.000000"
    assert committed.status_code == 200, committed.text
    record = committed.json()["data"]
    assert (record["transactionIdentifier"], record["status"]) == ("rest-1", "ACTIVE")
    assert released.status_code == 200
    assert released.json()["data"]["status"] == "COMMITTED"  # releasing a committed hold changes nothing
    assert released.json()["data"]["redemption"]["id"] == record["id"]
    assert await world.used(entry) == 1


async def test_rest_hold_errors_have_the_rest_shape_and_status(world: World) -> None:
    promotion, _ = await single_use_entry(world)
    held = (
        await world.http.post(
            f"{REST}/holds", json=purchase(CUSTOMER, line(promotion), txn="rest-2"), headers=world.headers
        )
    ).json()["data"]
    await world.http.post(f"{REST}/holds/{held['id']}/release", headers=world.headers)
    # when
    expired = await world.http.post(f"{REST}/holds/{held['id']}/commit", headers=world.headers)
    unknown = await world.http.post(f"{REST}/holds/{'0' * 24}/release", headers=world.headers)
    out_of_range = await world.http.post(
        f"{REST}/holds", json=purchase(CUSTOMER, line(promotion)) | {"holdSeconds": 0}, headers=world.headers
    )
    # then
    assert expired.status_code == 400 and expired.json()["errors"][0]["code"] == 400
    assert unknown.status_code == 404 and unknown.json()["errors"][0]["code"] == 404
    assert out_of_range.status_code == 400 and "holdSeconds" in out_of_range.json()["errors"][0]["message"]


async def test_the_openapi_document_lists_the_hold_routes(world: World) -> None:
    paths = (await world.http.get("/openapi.json")).json()["paths"]
    for path in ("/holds", "/holds/{holdId}/commit", "/holds/{holdId}/release"):
        operation = paths[f"{REST}{path}"]["post"]
        assert {"200", "404"} <= set(operation["responses"]), path


async def test_the_rest_wallet_shows_held_counts_until_the_hold_is_released(world: World) -> None:
    promotion, entry = await single_use_entry(world)
    body = purchase(CUSTOMER, line(promotion), txn="rest-held") | {"holdSeconds": 120}
    made = await world.http.post(f"{REST}/holds", json=body, headers=world.headers)
    assert made.status_code == 200, made.text

    async def rest_wallet() -> list[tuple[str, int, int]]:
        answer = await world.http.get(f"{REST}/customer/{CUSTOMER}", headers=world.headers)
        assert answer.status_code == 200, answer.text
        entries = answer.json()["data"]["customerEarnedPromotions"]
        return [(e["id"], e["redemptionsUsed"], e["redemptionsHeld"]) for e in entries]

    # when / then
    assert await rest_wallet() == [(entry, 0, 1)]
    hold_id = made.json()["data"]["id"]
    released = await world.http.post(f"{REST}/holds/{hold_id}/release", headers=world.headers)
    assert released.status_code == 200, released.text
    assert await rest_wallet() == [(entry, 0, 0)]
