"""A live server's org for wallet-mutation tests (redeem, revoke, their races and faults): an org
of its own per test, seeded directly through the repositories rather than through issuePromotion,
so that a test of redeem depends on redeem alone."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, replace
from typing import Any

import httpx
from sqlalchemy import select

from app.domain.clock import DAY_MS, now_ms
from app.domain.earning import new_earned_promotion
from app.domain.ids import new_object_id
from app.domain.models import Customer, EarnedFromType, EarnedPromotion, Promotion, PromotionType
from app.persistence.database import Database, create_database
from app.persistence.tables import earned_promotion_table, wallet_ledger_table
from app.persistence.uow import SqlUnitOfWork, SqlUnitOfWorkFactory
from app.services import admin
from app.settings import Settings
from tests.conftest import ORG_ID
from tests.support import add_test_client

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


async def insert_promotion(
    database: Database,
    promotion_id: str,
    *,
    type_: PromotionType = PromotionType.CUSTOMER,
    start_date: int | None = None,
    end_date: int | None = None,
    active: bool = True,
    redemption_window_days: int | None = None,
    max_redemptions_per_earn: int = 1,
    max_earns_per_customer: int | None = None,
    org_id: int = ORG_ID,
) -> Promotion:
    """A promotion with a fixed id (the spec pages' ids), through the repository."""
    now = now_ms()
    promotion = Promotion(
        org_id=org_id,
        id=promotion_id,
        name=f"Spec promotion {promotion_id[-4:]}",
        type=type_,
        start_date=start_date if start_date is not None else now - DAY_MS,
        end_date=end_date if end_date is not None else now + 30 * DAY_MS,
        active=active,
        redemption_window_days=redemption_window_days,
        max_redemptions_per_earn=max_redemptions_per_earn,
        max_earns_per_customer=max_earns_per_customer,
        created_at=now,
    )
    async with SqlUnitOfWork(database, write=True) as uow:
        await uow.promotions.add(promotion)
        await uow.commit()
    return promotion


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
        return await insert_promotion(
            self.database,
            new_object_id(),
            type_=type_,
            start_date=start,
            end_date=end,
            max_redemptions_per_earn=max_redemptions,
            org_id=self.org_id,
        )

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
    await admin.create_org(SqlUnitOfWorkFactory(database), org_id=org_id, name=f"Org {org_id}")
    writer = await add_test_client(
        database,
        org_id=org_id,
        name="writer",
        scopes=["wallet:write", "wallet:read"],
        username=f"writer-{org_id}",
        password="writer-secret",
    )
    http = httpx.AsyncClient(base_url=base_url, timeout=30)
    return World(database, http, org_id, writer.headers)


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
