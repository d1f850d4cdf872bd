"""redeemPromotions over real HTTP against a running uvicorn process (SQLite or PostgreSQL, per
PROMO_WALLET_TEST_DATABASE_URL). One server per module; each test gets an org of its own, so
tests stay independent without restarting the server. Wallet entries are inserted through the
repositories (not through issuePromotion) so these tests depend on redeem alone."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from app.domain.clock import DAY_MS, now_ms
from app.domain.earning import new_earned_promotion
from app.domain.ids import new_object_id
from app.domain.models import Customer, EarnedFromType, EarnedPromotion, Promotion, PromotionType
from app.persistence.database import Database, create_database
from app.persistence.tables import earned_promotion_table, wallet_ledger_table
from app.persistence.uow import SqlUnitOfWork
from app.services import admin
from app.settings import Settings
from tests import support
from tests.support import basic_auth, live_server

REDEEM = """mutation($input: RedeemPromotionsInput!) { redeemPromotions(input: $input) { __typename
  ... on RedeemPromotionsSuccess { redemption { id customerId customerIdentifierType customerIdentifierValue
      transactionIdentifier transactionNumber transactionDate transactionDateISO amount
      lineItems { sku promotionId earnedPromotionId redemptionCount discount discountAppliedOnQuantity
                  promotionAppliedOnQuantity }
      redemptions { sku promotionId redemptionCount discount discountAppliedOnQuantity
                    promotionAppliedOnQuantity }
      consumed { earnedPromotionId promotionId count } } }
  ... on Error { code message retryable }
  ... on InvalidRequestError { field }
  ... on PromotionNotRedeemableError { reason }
  ... on CustomerNotFoundError { customerIds }
  ... on ResourceLockedError { retryAfterMs } } }"""

_org_ids = itertools.count(300_001)


@dataclass
class World:
    """One org on the live server, with helpers that seed it directly through the repositories."""

    database: Database
    http: httpx.AsyncClient
    org_id: int
    headers: dict[str, str]

    async def promotion(
        self,
        type_: PromotionType = PromotionType.CUSTOMER,
        *,
        max_redemptions: int = 1,
        start: int | None = None,
        end: int | None = None,
    ) -> Promotion:
        now = now_ms()
        promotion = Promotion(
            org_id=self.org_id,
            id=new_object_id(now),
            name="Promotion",
            type=type_,
            start_date=start if start is not None else now - DAY_MS,
            end_date=end if end is not None else now + 30 * DAY_MS,
            active=True,
            redemption_window_days=None,
            max_redemptions_per_earn=max_redemptions,
            max_earns_per_customer=None,
            created_at=now,
        )
        async with SqlUnitOfWork(self.database, write=True) as uow:
            await uow.promotions.add(promotion)
            await uow.commit()
        return promotion

    async def customer(self, customer_id: int, **identifiers: str) -> int:
        async with SqlUnitOfWork(self.database, write=True) as uow:
            await uow.customers.add_many(
                [Customer(org_id=self.org_id, id=customer_id, **identifiers)], created_at=now_ms()
            )
            await uow.commit()
        return customer_id

    async def entries(
        self, customer_id: int, promotion: Promotion, count: int = 1, **changes: Any
    ) -> list[str]:
        """`count` wallet entries; `changes` override fields (valid_till, unlocks_at, revoked_at...)."""
        now = now_ms()
        made: list[EarnedPromotion] = []
        for _ in range(count):
            entry = new_earned_promotion(
                entry_id=new_object_id(now),
                promotion=promotion,
                customer_id=customer_id,
                earned_from_type=EarnedFromType.ACTIVITY,
                earned_from_id=new_object_id(now),
                instance=1,
                event_time=now,
                event_details=None,
                timezone="UTC",
                now=now,
            )
            made.append(replace(entry, **changes))
        async with SqlUnitOfWork(self.database, write=True) as uow:
            await uow.earnings.insert_new(made)
            await uow.commit()
        return [entry.id for entry in made]

    async def settings(self, **values: Any) -> None:
        async with SqlUnitOfWork(self.database, write=True) as uow:
            org = await uow.orgs.get(self.org_id)
            assert org is not None
            await uow.orgs.save_settings(self.org_id, replace(org.settings, **values))
            await uow.commit()

    async def used(self, entry_id: str) -> int:
        async with self.database.reader.connect() as connection:
            row = (
                await connection.execute(
                    select(earned_promotion_table.c.redemptions_used).where(
                        earned_promotion_table.c.id == entry_id
                    )
                )
            ).one()
        return int(row.redemptions_used)

    async def ledger(self) -> list[tuple[str, str | None, int, str]]:
        t = wallet_ledger_table.c
        async with self.database.reader.connect() as connection:
            rows = (
                await connection.execute(
                    select(t.kind, t.earned_promotion_id, t.quantity, t.source)
                    .where(t.org_id == self.org_id)
                    .order_by(t.id)
                )
            ).all()
        return [tuple(row) for row in rows]  # type: ignore[misc]

    async def gql(
        self, query: str, variables: dict[str, Any] | None = None, headers: dict[str, str] | None = None
    ) -> dict[str, Any]:
        response = await self.http.post(
            "/graphql", json={"query": query, "variables": variables or {}}, headers=headers or self.headers
        )
        assert response.status_code == 200, response.text
        return response.json()  # type: ignore[no-any-return]

    async def redeem(self, **input_: Any) -> dict[str, Any]:
        body = await self.gql(REDEEM, {"input": input_})
        assert "errors" not in body, body
        return body["data"]["redeemPromotions"]  # type: ignore[no-any-return]


async def make_world(database_url: str, base_url: str, *, lock_timeout_ms: int = 2000) -> World:
    database = create_database(
        Settings(database_url=database_url, lock_timeout_ms=lock_timeout_ms, _env_file=None)  # type: ignore[call-arg]
    )
    org_id = next(_org_ids)
    await admin.create_org(database, org_id=org_id, name=f"Org {org_id}")
    await admin.create_client(
        database,
        org_id=org_id,
        name="writer",
        scopes=["wallet:write", "wallet:read"],
        username=f"writer-{org_id}",
        password="writer-secret",
    )
    http = httpx.AsyncClient(base_url=base_url, timeout=30)
    return World(database, http, org_id, basic_auth(f"writer-{org_id}", "writer-secret"))


async def close_world(world: World) -> None:
    await world.http.aclose()
    await world.database.dispose()


def line(promotion: Promotion | str, count: int = 1, discount: Any = 100, **extra: Any) -> dict[str, Any]:
    return {
        "promotionId": promotion if isinstance(promotion, str) else promotion.id,
        "redemptionCount": count,
        "discount": discount,
        "discountAppliedOnQuantity": 1,
        "promotionAppliedOnQuantity": 1,
    } | extra


def purchase(
    customer_id: int | None, *lines: dict[str, Any], txn: str | None = None, amount: Any = 1000, **extra: Any
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "transactionIdentifier": txn or f"txn-{new_object_id()}",
        "transactionNumber": "bill-1",
        "transactionDate": 1743521508000,
        "amount": amount,
        "lineItems": list(lines),
    }
    if customer_id is not None:
        body["customerId"] = customer_id
    return body | extra


@pytest.fixture(scope="module")
def server(
    test_databases: support.TestDatabases, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, str]]:
    database_url = test_databases.fresh_url(Path(tmp_path_factory.mktemp("redeem")))
    with live_server(database_url) as base_url:
        yield database_url, base_url


@pytest.fixture
async def world(server: tuple[str, str]) -> AsyncIterator[World]:
    made = await make_world(*server)
    yield made
    await close_world(made)


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


async def test_the_org_settings_are_checked_before_the_promotions(world: World) -> None:
    await world.customer(19)
    await world.settings(redemption_without_evaluation=False, web_engage_account_id="bad")
    assert (await world.redeem(**purchase(19, line("p" * 24))))["code"] == 405
    await world.settings(redemption_without_evaluation=True)
    assert (await world.redeem(**purchase(19, line("p" * 24))))["code"] == 406
    await world.settings(web_engage_account_id=None)
    assert (await world.redeem(**purchase(19, line("p" * 24))))["__typename"] == "PromotionNotFoundError"


async def test_a_promotion_of_another_org_is_404(world: World, server: tuple[str, str]) -> None:
    other = await make_world(*server)
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
        world.database,
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
