"""The service's chunked write path, with chunks of two customers so that small lists use it."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from app.domain.clock import DAY_MS, now_ms
from app.domain.commands import CreateCustomer, CreatePromotion, IssuePromotion
from app.domain.errors import CustomerNotFound, EarnLimitExceeded
from app.domain.models import EarnedFromType, Principal, Promotion, PromotionType, Scope
from app.persistence.database import Database
from app.persistence.tables import earned_promotion_table, wallet_ledger_table
from app.persistence.uow import SqlUnitOfWorkFactory
from app.services import admin
from app.services.issue import IssueResult, issue_promotion
from tests.conftest import ORG_ID

PRINCIPAL = Principal(org_id=ORG_ID, client_id=0, username="issuer", scopes=frozenset(Scope))


async def given_org(database: Database, *customer_ids: int, max_earns: int | None = None) -> Promotion:
    await admin.create_org(SqlUnitOfWorkFactory(database), org_id=ORG_ID, name="Org", timezone="Asia/Kolkata")
    await admin.import_customers(
        SqlUnitOfWorkFactory(database), PRINCIPAL, [CreateCustomer(id=c) for c in customer_ids]
    )
    now = now_ms()
    return await admin.create_promotion(
        SqlUnitOfWorkFactory(database),
        PRINCIPAL,
        CreatePromotion(
            name="Chunked",
            type=PromotionType.REWARD,
            start_date=now - DAY_MS,
            end_date=now + DAY_MS,
            max_earns_per_customer=max_earns,
        ),
    )


async def rows(database: Database) -> tuple[int, int]:
    async with database.reader.connect() as connection:
        entries = await connection.execute(select(func.count()).select_from(earned_promotion_table))
        ledger = await connection.execute(select(func.count()).select_from(wallet_ledger_table))
        return int(entries.scalar_one()), int(ledger.scalar_one())


async def issue(
    database: Database,
    promotion: Promotion,
    context_id: str,
    customer_ids: list[object],
    *,
    include_entries: bool = True,
) -> IssueResult:
    """An issue in chunks of two customers."""
    return await issue_promotion(
        SqlUnitOfWorkFactory(database),
        PRINCIPAL,
        IssuePromotion(promotion_id=promotion.id, context_id=context_id, customer_ids=customer_ids),
        max_batch=100,
        include_entries=include_entries,
        write_chunk=2,
    )


async def test_chunked_issue_returns_entries_in_request_order_and_counts_repeats(database: Database) -> None:
    # given
    promotion = await given_org(database, 1, 2, 3, 4, 5)
    await issue(database, promotion, "ctx", [4, 2])
    # when
    result = await issue(database, promotion, "ctx", [5, 1, 4, 3, 2, 5])
    # then
    assert (result.issued_count, result.already_issued_count) == (3, 2)
    assert [entry.customer_id for entry in result.entries] == [5, 1, 4, 3, 2]
    assert {entry.earned_from_type for entry in result.entries} == {EarnedFromType.BULK_ISSUE}
    assert await rows(database) == (5, 5)


async def test_chunked_issue_refuses_before_writing_any_chunk(database: Database) -> None:
    # given: the unknown customer sorts last, so it would be in the last chunk
    promotion = await given_org(database, 1, 2, 3, 4, 5)
    # when
    with pytest.raises(CustomerNotFound) as refused:
        await issue(database, promotion, "ctx", [1, 2, 3, 4, 5, 99])
    # then
    assert refused.value.customer_ids == [99]
    assert await rows(database) == (0, 0)


async def test_chunked_issue_checks_the_earn_limit_of_every_customer_before_writing(
    database: Database,
) -> None:
    # given: customer 5 already holds the one earn allowed
    promotion = await given_org(database, 1, 2, 3, 4, 5, max_earns=1)
    await issue(database, promotion, "first", [5])
    # when
    with pytest.raises(EarnLimitExceeded):
        await issue(database, promotion, "second", [1, 2, 3, 4, 5])
    # then
    assert await rows(database) == (1, 1)


async def test_without_entries_requested_only_the_counts_come_back(database: Database) -> None:
    promotion = await given_org(database, 1, 2, 3)
    result = await issue(database, promotion, "ctx", [1, 2, 3], include_entries=False)
    assert (result.issued_count, result.already_issued_count, result.entries) == (3, 0, [])
