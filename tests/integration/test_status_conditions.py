"""The SQL status filters (wallet and promotions repositories) agree with the domain rules, on a
grid of rows around every boundary, in a real database."""

from __future__ import annotations

import itertools

import pytest
from sqlalchemy import insert, select

from app.domain import rules
from app.domain.clock import now_ms
from app.domain.ids import new_object_id
from app.domain.models import Customer, EarnedPromotionStatus, PromotionStatus, PromotionType
from app.persistence.database import Database
from app.persistence.repositories import promotions as promotion_repository
from app.persistence.repositories import wallet as wallet_repository
from app.persistence.repositories.promotions import _promotion as promotion_from_row
from app.persistence.repositories.wallet import earned_promotion_from_row
from app.persistence.tables import earned_promotion_table, promotion_table
from app.persistence.uow import SqlUnitOfWork, SqlUnitOfWorkFactory
from app.services import admin

ORG = 4242
NOW = 1_750_000_000_000


@pytest.fixture
async def org(database: Database) -> int:
    await admin.create_org(SqlUnitOfWorkFactory(database), org_id=ORG, name="Grid", timezone="UTC")
    return ORG


def promotion_row(*, start: int, end: int, active: bool) -> dict[str, object]:
    return {
        "id": new_object_id(),
        "org_id": ORG,
        "name": "grid",
        "type": PromotionType.CUSTOMER.value,
        "start_date": start,
        "end_date": end,
        "active": active,
        "redemption_window_days": None,
        "max_redemptions_per_earn": 1,
        "max_earns_per_customer": None,
        "created_at": now_ms(),
    }


async def given_the_promotion_grid(database: Database) -> None:
    offsets = (-1, 0, 1)
    rows = [
        promotion_row(start=NOW + s, end=NOW + e, active=active)
        for s, e, active in itertools.product(offsets, offsets, (True, False))
        if e >= s
    ]
    async with SqlUnitOfWork(database, write=True) as uow:
        await uow.session.execute(insert(promotion_table), rows)
        await uow.commit()


async def test_the_active_cap_count_in_sql_matches_the_domain_rule_on_every_boundary(
    database: Database, org: int
) -> None:
    # given promotions starting and ending just before, at and just after "now", on and off
    await given_the_promotion_grid(database)
    # when the repository counts those toward the org cap at "now" and around it
    for at in (NOW - 1, NOW, NOW + 1):
        async with SqlUnitOfWork(database) as uow:
            counted = await uow.promotions.count_active(org, now=at)
            everything = [promotion_from_row(r) for r in await uow.session.execute(select(promotion_table))]
        # then it counts exactly those the domain rule says count
        assert counted == sum(rules.counts_toward_active_cap(p, at) for p in everything), at


async def test_promotion_status_in_sql_matches_the_domain_rule_on_every_boundary(
    database: Database, org: int
) -> None:
    # given promotions starting and ending just before, at and just after "now", on and off
    await given_the_promotion_grid(database)
    # when each status is selected with the repository's SQL condition
    async with SqlUnitOfWork(database) as uow:
        everything = [promotion_from_row(r) for r in await uow.session.execute(select(promotion_table))]
        selected = {
            status: set(
                (
                    await uow.session.execute(
                        select(promotion_table.c.id).where(
                            promotion_table.c.org_id == org,
                            promotion_repository.status_condition(status, NOW),
                        )
                    )
                ).scalars()
            )
            for status in PromotionStatus
        }
    # then every row is selected by exactly the status the domain gives it
    expected = {status: set() for status in PromotionStatus}
    for promotion in everything:
        expected[rules.promotion_status(promotion, NOW)].add(promotion.id)
    assert selected == expected
    assert all(expected.values()), "the grid should produce every status"


async def test_earned_status_in_sql_matches_the_domain_rule_on_every_boundary(
    database: Database, org: int
) -> None:
    # given one customer, one promotion, and wallet entries around every boundary
    promotion = promotion_row(start=0, end=NOW * 2, active=True)
    async with SqlUnitOfWork(database, write=True) as uow:
        await uow.session.execute(insert(promotion_table), [promotion])
        await uow.customers.add_many([Customer(org_id=org, id=1)], created_at=NOW)
        entries = []
        for instance, (valid, unlock, used, allowed, revoked) in enumerate(
            itertools.product((-1, 0, 1), (-1, 0, 1), (0, 1, 2), (1, 2), (None, NOW - 5))
        ):
            entries.append(
                {
                    "id": new_object_id(),
                    "org_id": org,
                    "customer_id": 1,
                    "promotion_id": promotion["id"],
                    "earned_from_type": "BULK_ISSUE",
                    "earned_from_id": "grid",
                    "instance": instance,
                    "event_time": NOW - 10,
                    "valid_till": NOW + valid,
                    "unlocks_at": NOW + unlock,
                    "redemptions_allowed": allowed,
                    "redemptions_used": used,
                    "revoked_at": revoked,
                    "created_at": NOW,
                }
            )
        await uow.session.execute(insert(earned_promotion_table), entries)
        await uow.commit()
    # when each status is selected with the wallet repository's SQL condition
    async with SqlUnitOfWork(database) as uow:
        everything = [
            earned_promotion_from_row(r) for r in await uow.session.execute(select(earned_promotion_table))
        ]
        selected = {
            status: set(
                (
                    await uow.session.execute(
                        select(earned_promotion_table.c.id).where(
                            wallet_repository.status_condition(status, NOW)
                        )
                    )
                ).scalars()
            )
            for status in EarnedPromotionStatus
        }
    # then every entry is selected by exactly the status the domain gives it
    expected = {status: set() for status in EarnedPromotionStatus}
    for entry in everything:
        expected[rules.earned_status(entry, NOW)].add(entry.id)
    assert len(everything) == 108
    assert selected == expected
    assert all(expected.values()), "the grid should produce every status"
