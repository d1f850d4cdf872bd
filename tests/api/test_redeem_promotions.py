"""redeemPromotions over real HTTP against a running uvicorn process (SQLite or PostgreSQL, per
PROMO_WALLET_TEST_DATABASE_URL). One server per module (`wallet_server`); each test gets an org of
its own (`world`), so tests stay independent without restarting the server."""

from __future__ import annotations

from typing import Any

import pytest

from app.domain.clock import DAY_MS, now_ms
from app.domain.models import PromotionType
from app.persistence.uow import SqlUnitOfWorkFactory
from app.services import admin
from tests.support import basic_auth
from tests.wallet_world import REDEEM, World, close_world, line, make_world, purchase

# --- success paths -----------------------------------------------------------------------------


async def test_redeeming_a_single_use_entry_records_it_and_moves_the_count(world: World) -> None:
    # given
    promotion = await world.promotion()
    customer = await world.customer(566881933)
    [entry] = await world.entries(customer, promotion)
    # when
    result = await world.redeem(
        **purchase(customer, line(promotion, discount=500, sku="Sku#Fuel"), txn="txn-50", amount=1000)
    )
    # then
    assert result["__typename"] == "RedeemPromotionsSuccess", result
    redemption = result["redemption"]
    assert redemption["transactionIdentifier"] == "txn-50"
    assert redemption["transactionDateISO"] == "2025-04-01T15:31:48Z"
    assert redemption["amount"] == "1000.000000"
    assert redemption["lineItems"] == [
        {
            "sku": "Sku#Fuel",
            "promotionId": promotion.id,
            "earnedPromotionId": None,
            "redemptionCount": 1,
            "discount": "500.000000",
            "discountAppliedOnQuantity": "1.000000",
            "promotionAppliedOnQuantity": "1.000000",
        }
    ]
    assert redemption["consumed"] == [{"earnedPromotionId": entry, "promotionId": promotion.id, "count": 1}]
    assert await world.used(entry) == 1
    assert await world.ledger() == [("REDEEMED", entry, -1, "txn-50")]
    wallet = await world.gql(
        "query($id: Long!) { wallet(customerId: $id) { edges { node { status redemptionsUsed } } } }",
        {"id": customer},
    )
    assert wallet["data"]["wallet"]["edges"] == [{"node": {"status": "REDEEMED", "redemptionsUsed": 1}}]


async def test_soonest_expiring_entries_are_used_first_and_a_count_may_span_entries(world: World) -> None:
    # given: three two-use entries expiring in 3, 1 and 2 days
    promotion = await world.promotion(max_redemptions=2)
    customer = await world.customer(7)
    now = now_ms()
    [late] = await world.entries(customer, promotion, valid_till=now + 3 * DAY_MS)
    [soon] = await world.entries(customer, promotion, valid_till=now + 1 * DAY_MS)
    [middle] = await world.entries(customer, promotion, valid_till=now + 2 * DAY_MS)
    # when
    result = await world.redeem(**purchase(customer, line(promotion, count=3)))
    # then
    assert result["__typename"] == "RedeemPromotionsSuccess", result
    assert result["redemption"]["consumed"] == [
        {"earnedPromotionId": soon, "promotionId": promotion.id, "count": 2},
        {"earnedPromotionId": middle, "promotionId": promotion.id, "count": 1},
    ]
    assert [await world.used(x) for x in (soon, middle, late)] == [2, 1, 0]


async def test_an_explicit_earned_promotion_id_is_used_even_if_another_expires_sooner(world: World) -> None:
    promotion = await world.promotion()
    customer = await world.customer(8)
    now = now_ms()
    [soon] = await world.entries(customer, promotion, valid_till=now + DAY_MS)
    [chosen] = await world.entries(customer, promotion, valid_till=now + 5 * DAY_MS)
    result = await world.redeem(**purchase(customer, line(promotion, earnedPromotionId=chosen)))
    assert result["__typename"] == "RedeemPromotionsSuccess", result
    assert result["redemption"]["lineItems"][0]["earnedPromotionId"] == chosen
    assert (await world.used(chosen), await world.used(soon)) == (1, 0)


async def test_pos_and_code_promotions_need_no_wallet_entry(world: World) -> None:
    pos = await world.promotion(PromotionType.POS)
    code = await world.promotion(PromotionType.CODE)
    customer = await world.customer(9)
    result = await world.redeem(**purchase(customer, line(pos), line(code, count=3)))
    assert result["__typename"] == "RedeemPromotionsSuccess", result
    assert result["redemption"]["consumed"] == []
    assert await world.ledger() == []


async def test_both_lists_agreeing_are_recorded_as_given(world: World) -> None:
    promotion = await world.promotion(max_redemptions=2)
    customer = await world.customer(10)
    [entry] = await world.entries(customer, promotion)
    body = purchase(
        customer,
        line(promotion, discount=200, sku="A"),
        line(promotion, discount="300.5", sku="B"),
        redemptions=[line(promotion, count=2, discount="500.50")],
    )
    result = await world.redeem(**body)
    assert result["__typename"] == "RedeemPromotionsSuccess", result
    assert [x["sku"] for x in result["redemption"]["lineItems"]] == ["A", "B"]
    assert result["redemption"]["redemptions"][0]["discount"] == "500.500000"
    assert result["redemption"]["consumed"] == [
        {"earnedPromotionId": entry, "promotionId": promotion.id, "count": 2}
    ]


async def test_only_redemptions_counts_from_that_list(world: World) -> None:
    promotion = await world.promotion()
    customer = await world.customer(11)
    [entry] = await world.entries(customer, promotion)
    body = purchase(customer, redemptions=[line(promotion)])
    del body["lineItems"]
    result = await world.redeem(**body)
    assert result["__typename"] == "RedeemPromotionsSuccess", result
    assert result["redemption"]["lineItems"] == []
    assert await world.used(entry) == 1


@pytest.mark.parametrize(
    ("kind", "field", "value"),
    [
        ("MOBILE", "mobile", "9876543210"),
        ("EMAIL", "email", "ana@example.com"),
        ("EXTERNAL_ID", "external_id", "crm-77"),
    ],
)
async def test_the_customer_can_be_named_by_identifier(
    world: World, kind: str, field: str, value: str
) -> None:
    promotion = await world.promotion()
    customer = await world.customer(12, **{field: value})
    [entry] = await world.entries(customer, promotion)
    result = await world.redeem(
        **purchase(None, line(promotion), customerIdentifierType=kind, customerIdentifierValue=value)
    )
    assert result["__typename"] == "RedeemPromotionsSuccess", result
    assert result["redemption"]["customerId"] == customer
    assert result["redemption"]["customerIdentifierType"] == kind
    assert result["redemption"]["customerIdentifierValue"] == value
    assert await world.used(entry) == 1


async def test_id_and_identifier_together_must_name_the_same_customer(world: World) -> None:
    promotion = await world.promotion(PromotionType.POS)
    await world.customer(13, mobile="9876543210")
    await world.customer(14, mobile="9876543211")
    ok = await world.redeem(
        **purchase(13, line(promotion), customerIdentifierType="MOBILE", customerIdentifierValue="9876543210")
    )
    assert ok["__typename"] == "RedeemPromotionsSuccess", ok
    bad = await world.redeem(
        **purchase(13, line(promotion), customerIdentifierType="MOBILE", customerIdentifierValue="9876543211")
    )
    assert (bad["__typename"], bad["field"]) == ("InvalidRequestError", "customerIdentifierValue")


# --- idempotency -------------------------------------------------------------------------------


async def test_a_replayed_transaction_returns_the_recorded_redemption_without_counting_again(
    world: World,
) -> None:
    # given
    promotion = await world.promotion(max_redemptions=5)
    customer = await world.customer(15, mobile="9876543210")
    [entry] = await world.entries(customer, promotion)
    body = purchase(customer, line(promotion, count=2, discount=100), txn="txn-replay", amount=1000)
    first = await world.redeem(**body)
    # when: the same content, spelled differently (decimals, and by identifier instead of id)
    again = await world.redeem(**body)
    respelled = await world.redeem(
        **(
            purchase(None, line(promotion, count=2, discount="100.000"), txn="txn-replay", amount="1000.0")
            | {"customerIdentifierType": "MOBILE", "customerIdentifierValue": "9876543210"}
        )
    )
    # then
    assert first["__typename"] == again["__typename"] == respelled["__typename"] == "RedeemPromotionsSuccess"
    assert first["redemption"]["id"] == again["redemption"]["id"] == respelled["redemption"]["id"]
    assert await world.used(entry) == 2
    assert len(await world.ledger()) == 1


async def test_a_transaction_identifier_reused_with_other_content_is_refused(world: World) -> None:
    promotion = await world.promotion(max_redemptions=5)
    customer = await world.customer(16)
    [entry] = await world.entries(customer, promotion)
    await world.redeem(**purchase(customer, line(promotion), txn="txn-x", amount=1000))
    for changed in (
        purchase(customer, line(promotion), txn="txn-x", amount=999),
        purchase(customer, line(promotion, count=2), txn="txn-x", amount=1000),
        purchase(customer, line(promotion), txn="txn-x", amount=1000, transactionNumber="other"),
    ):
        result = await world.redeem(**changed)
        assert (result["__typename"], result["field"]) == ("InvalidRequestError", "transactionIdentifier")
    assert await world.used(entry) == 1


# --- errors, in DESIGN order -------------------------------------------------------------------

LONG = "x" * 251


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"customerId": None}, "customerId"),
        ({"customerId": None, "customerIdentifierType": "MOBILE"}, "customerId"),
        ({"customerId": 0}, "customerId"),
        ({"customerIdentifierType": "MOBILE"}, "customerIdentifierValue"),
        ({"customerIdentifierValue": "98765"}, "customerIdentifierType"),
        ({"customerIdentifierType": "MOBILE", "customerIdentifierValue": LONG}, "customerIdentifierValue"),
        ({"transactionIdentifier": ""}, "transactionIdentifier"),
        ({"transactionIdentifier": LONG}, "transactionIdentifier"),
        ({"transactionNumber": LONG}, "transactionNumber"),
        ({"transactionDate": -1}, "transactionDate"),
        ({"amount": -1}, "amount"),
        ({"amount": "1.0000001"}, "amount"),
        ({"lineItems": []}, "lineItems"),
        ({"lineItems": None}, "lineItems"),
        ({"lineItems": [line("p" * 24, count=0)]}, "lineItems[0].redemptionCount"),
        ({"lineItems": [line("p" * 24, discount=-5)]}, "lineItems[0].discount"),
        (
            {"lineItems": [line("p" * 24, promotionAppliedOnQuantity=-1)]},
            "lineItems[0].promotionAppliedOnQuantity",
        ),
        (
            {"lineItems": [line("p" * 24, discountAppliedOnQuantity=3, promotionAppliedOnQuantity=2)]},
            "lineItems[0].discountAppliedOnQuantity",
        ),
        ({"lineItems": [line("p" * 24, sku=LONG)]}, "lineItems[0].sku"),
        ({"lineItems": [line("p" * 24, discount=600), line("q" * 24, discount=500)]}, "amount"),
        ({"redemptions": [line("p" * 24, count=2)]}, "redemptions"),
        ({"redemptions": [line("p" * 24, discount=99)]}, "redemptions"),
        ({"redemptions": [line("q" * 24)]}, "redemptions"),
    ],
)
async def test_malformed_requests_are_400_with_the_field(
    world: World, change: dict[str, Any], field: str
) -> None:
    # the shape is checked first: no customer or promotion needs to exist
    body = purchase(424242, line("p" * 24)) | change
    result = await world.redeem(**{k: v for k, v in body.items() if v is not None})
    assert result["__typename"] == "InvalidRequestError", result
    assert (result["code"], result["field"], result["retryable"]) == (400, field, False)


async def test_an_unknown_customer_is_404(world: World) -> None:
    by_id = await world.redeem(**purchase(5668819330, line("p" * 24)))
    assert (by_id["__typename"], by_id["code"], by_id["customerIds"]) == (
        "CustomerNotFoundError",
        404,
        [5668819330],
    )
    by_mobile = await world.redeem(
        **purchase(
            None, line("p" * 24), customerIdentifierType="MOBILE", customerIdentifierValue="9999999999"
        )
    )
    assert (by_mobile["__typename"], by_mobile["code"]) == ("CustomerNotFoundError", 404)


async def test_redemption_without_evaluation_disabled_is_405(world: World) -> None:
    await world.customer(17)
    await world.settings(redemption_without_evaluation=False)
    result = await world.redeem(**purchase(17, line("p" * 24)))
    assert (result["__typename"], result["code"]) == ("RedemptionWithoutEvaluationDisabledError", 405)


@pytest.mark.parametrize(
    ("account", "typename"),
    [
        ("~2024c5d1", "RedeemPromotionsSuccess"),
        ("aa131c9a", "RedeemPromotionsSuccess"),
        ("not a valid account", "InvalidWebEngageAccountError"),
        ("~ABC12345", "InvalidWebEngageAccountError"),
    ],
)
async def test_an_invalid_web_engage_account_is_406(world: World, account: str, typename: str) -> None:
    promotion = await world.promotion(PromotionType.POS)
    await world.customer(18)
    await world.settings(web_engage_account_id=account)
    result = await world.redeem(**purchase(18, line(promotion)))
    assert result["__typename"] == typename, result
    if typename != "RedeemPromotionsSuccess":
        assert result["code"] == 406


async def test_a_promotion_of_another_org_is_404(world: World, wallet_server: tuple[str, str]) -> None:
    other = await make_world(*wallet_server)
    try:
        foreign = await other.promotion()
    finally:
        await close_world(other)
    await world.customer(20)
    result = await world.redeem(**purchase(20, line(foreign)))
    assert (result["__typename"], result["code"]) == ("PromotionNotFoundError", 404)


async def test_an_earned_promotion_of_another_customer_or_promotion_is_404(world: World) -> None:
    promotion = await world.promotion()
    other_promotion = await world.promotion()
    pos = await world.promotion(PromotionType.POS)
    await world.customer(21)
    await world.customer(22)
    [theirs] = await world.entries(22, promotion)
    [mine_other] = await world.entries(21, other_promotion)
    await world.entries(21, promotion)
    for entry_id, promo in (
        (theirs, promotion),
        (mine_other, promotion),
        ("nope", promotion),
        (mine_other, pos),
    ):
        result = await world.redeem(**purchase(21, line(promo, earnedPromotionId=entry_id)))
        assert (result["__typename"], result["code"]) == ("EarnedPromotionNotFoundError", 404), result
    assert await world.used(theirs) == 0


async def test_each_not_redeemable_reason(world: World) -> None:
    now = now_ms()
    customer = await world.customer(23)
    cases = {}
    cases["NOT_EARNED"] = await world.promotion()
    cases["LOCKED"] = await world.promotion(start=now + DAY_MS)
    await world.entries(customer, cases["LOCKED"])
    cases["EXPIRED"] = await world.promotion()
    await world.entries(customer, cases["EXPIRED"], valid_till=now - DAY_MS)
    cases["ALREADY_REDEEMED"] = await world.promotion()
    await world.entries(customer, cases["ALREADY_REDEEMED"], redemptions_used=1)
    cases["REVOKED"] = await world.promotion()
    await world.entries(customer, cases["REVOKED"], revoked_at=now - 1000)
    for reason, promotion in cases.items():
        result = await world.redeem(**purchase(customer, line(promotion)))
        assert result["__typename"] == "PromotionNotRedeemableError", (reason, result)
        assert (result["reason"], result["code"]) == (reason, 400)
    assert await world.ledger() == []


async def test_asking_for_more_than_is_left_is_refused_and_nothing_is_consumed(world: World) -> None:
    promotion = await world.promotion(max_redemptions=2)
    pos = await world.promotion(PromotionType.POS)
    customer = await world.customer(24)
    [entry] = await world.entries(customer, promotion)
    result = await world.redeem(**purchase(customer, line(pos), line(promotion, count=3)))
    assert (result["__typename"], result["reason"]) == ("PromotionNotRedeemableError", "ALREADY_REDEEMED")
    assert await world.used(entry) == 0
    named = await world.redeem(**purchase(customer, line(promotion, count=3, earnedPromotionId=entry)))
    assert (named["__typename"], named["reason"]) == ("PromotionNotRedeemableError", "ALREADY_REDEEMED")


async def test_a_reader_cannot_redeem(world: World) -> None:
    await admin.create_client(
        SqlUnitOfWorkFactory(world.database),
        org_id=world.org_id,
        name="reader",
        scopes=["wallet:read"],
        username=f"reader-{world.org_id}",
        password="reader-secret",
    )
    body = await world.gql(
        REDEEM,
        {"input": purchase(1, line("p" * 24))},
        headers=basic_auth(f"reader-{world.org_id}", "reader-secret"),
    )
    assert body["data"] is None
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
