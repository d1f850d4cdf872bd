"""Seeding the demo data is all-or-nothing and safe to run twice at once."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import func, select

from app.auth.authenticator import Authenticator
from app.persistence.database import Database
from app.persistence.repositories.clients import ApiClientRepository
from app.persistence.tables import api_client_table, earned_promotion_table, org_table
from app.persistence.uow import SqlUnitOfWork, SqlUnitOfWorkFactory
from app.services.demo import DEMO_ADMIN, DEMO_ORG_ID, DEMO_READER, seed_demo


async def counts(database: Database) -> list[int]:
    async with SqlUnitOfWork(database) as uow:
        return [
            int((await uow.session.execute(select(func.count()).select_from(t))).scalar_one())
            for t in (org_table, api_client_table, earned_promotion_table)
        ]


async def test_a_seed_that_fails_half_way_leaves_nothing_and_the_next_run_seeds_everything(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given a seed that fails while writing its second (reader) client
    real_add = ApiClientRepository.add

    async def fail_for_reader(self: ApiClientRepository, **values: Any) -> int:
        if values["username"] == DEMO_READER[0]:
            raise RuntimeError("disk full")
        return await real_add(self, **values)

    with monkeypatch.context() as patch:
        patch.setattr(ApiClientRepository, "add", fail_for_reader)
        with pytest.raises(RuntimeError):
            await seed_demo(SqlUnitOfWorkFactory(database))
    assert await counts(database) == [0, 0, 0]
    # when it runs again
    info = await seed_demo(SqlUnitOfWorkFactory(database))
    # then everything is there and the demo credentials work
    assert info.seeded and await counts(database) == [1, 2, 9]
    authenticator = Authenticator(SqlUnitOfWorkFactory(database), cache_seconds=0, token_ttl_seconds=60)
    assert (await authenticator.verify_client(*DEMO_ADMIN)).org_id == DEMO_ORG_ID
    assert (await authenticator.verify_client(*DEMO_READER)).org_id == DEMO_ORG_ID


async def test_two_seeds_at_once_seed_once(database: Database) -> None:
    # when
    results = await asyncio.gather(
        seed_demo(SqlUnitOfWorkFactory(database)), seed_demo(SqlUnitOfWorkFactory(database))
    )
    # then
    assert sorted(r.seeded for r in results) == [False, True]
    assert await counts(database) == [1, 2, 9]


async def test_the_demo_data_passes_the_invariant_checker(database: Database, database_url: str) -> None:
    # given the demo seeded, including its redeemed entry
    from app.persistence.invariants import check_database

    await seed_demo(SqlUnitOfWorkFactory(database))
    # when
    violations = await check_database(database_url)
    # then: every REDEEMED entry has its redemption, consumption and ledger row
    assert violations == []
    async with SqlUnitOfWork(database) as uow:
        recorded = await uow.redemptions.get_by_transaction(DEMO_ORG_ID, "demo-txn-0001")
    assert recorded is not None and len(recorded.consumed) == 1
