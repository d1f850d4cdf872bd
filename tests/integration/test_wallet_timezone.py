"""The wallet page's statement reads the org's timezone when asked (validTillLocal, DESIGN §8.6),
on SQLite and PostgreSQL, and the fake repository answers the same: a page with entries carries
it, an empty page or an unasked read does not, and a settings change shows on the next read."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from app.domain.clock import DAY_MS, now_ms
from app.domain.models import Customer, Org, OrgSettings, Promotion, PromotionType, WalletPage
from app.domain.ports import UnitOfWorkFactory
from app.persistence.database import Database
from app.persistence.uow import SqlUnitOfWorkFactory
from app.services import admin
from tests.fakes import FakeStore, FakeUnitOfWorkFactory
from tests.integration.wallet_rows import add_wallet_entry
from tests.services.factories import Given

ORG = 4343
EMPTY_CUSTOMER, CUSTOMER = 1, 2


async def read(uow_factory: UnitOfWorkFactory, customer_id: int, **flags: Any) -> WalletPage:
    async with uow_factory() as uow:
        return await uow.wallet.view(
            ORG,
            customer_id,
            statuses=None,
            promotion_id=None,
            first=10,
            after=None,
            now=now_ms(),
            with_count=False,
            with_promotions=False,
            **flags,
        )


async def set_timezone(uow_factory: UnitOfWorkFactory, timezone: str) -> None:
    async with uow_factory(write=True) as uow:
        org = await uow.orgs.get(ORG)
        assert org is not None
        await uow.orgs.save_settings(ORG, replace(org.settings, timezone=timezone))
        await uow.commit()


async def check(uow_factory: UnitOfWorkFactory) -> None:
    assert (await read(uow_factory, CUSTOMER, with_timezone=True)).timezone == "Asia/Kolkata"
    assert (await read(uow_factory, CUSTOMER)).timezone is None  # not asked for
    assert (await read(uow_factory, EMPTY_CUSTOMER, with_timezone=True)).timezone is None
    await set_timezone(uow_factory, "America/New_York")
    assert (await read(uow_factory, CUSTOMER, with_timezone=True)).timezone == "America/New_York"


async def test_the_wallet_page_reads_the_orgs_timezone_in_the_database(database: Database) -> None:
    # given an org in Asia/Kolkata, a customer with an entry and one without
    uow_factory = SqlUnitOfWorkFactory(database)
    await admin.create_org(uow_factory, org_id=ORG, name="Zones", timezone="Asia/Kolkata")
    now = now_ms()
    promotion = Promotion(
        org_id=ORG, id="5f0000000000000000000001", name="Zone", type=PromotionType.CUSTOMER,
        start_date=now - DAY_MS, end_date=now + DAY_MS, active=True, redemption_window_days=None,
        max_redemptions_per_earn=1, max_earns_per_customer=None, created_at=now,
    )  # fmt: skip
    async with uow_factory(write=True) as uow:
        await uow.promotions.add(promotion)
        await uow.customers.add_many(
            [Customer(org_id=ORG, id=EMPTY_CUSTOMER), Customer(org_id=ORG, id=CUSTOMER)], created_at=now
        )
        await uow.commit()
    await add_wallet_entry(database, org_id=ORG, promotion_id=promotion.id, customer_id=CUSTOMER)
    # then
    await check(uow_factory)


async def test_the_fake_wallet_page_reads_the_timezone_the_same_way() -> None:
    store = FakeStore()
    store.put_org(Org(id=ORG, name="Zones", settings=OrgSettings(timezone="Asia/Kolkata")))
    now = now_ms()
    promotion = store.put_promotion(
        Promotion(
            org_id=ORG, id="5f0000000000000000000001", name="Zone", type=PromotionType.CUSTOMER,
            start_date=now - DAY_MS, end_date=now + DAY_MS, active=True, redemption_window_days=None,
            max_redemptions_per_earn=1, max_earns_per_customer=None, created_at=now,
        )
    )  # fmt: skip
    store.put_customers([Customer(org_id=ORG, id=EMPTY_CUSTOMER), Customer(org_id=ORG, id=CUSTOMER)])
    Given(store, now).entry(promotion, CUSTOMER)
    await check(FakeUnitOfWorkFactory(store))
