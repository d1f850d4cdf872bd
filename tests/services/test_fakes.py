"""The fake unit of work keeps the promises of the port (domain/ports.py) that the services rely
on: rollback unless committed, AlreadyExists out of the block, ResourceLocked on demand. And the
service tests stay SQL-free."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from app.domain.errors import AlreadyExists, ResourceLocked
from app.domain.models import Customer, CustomerIdentifierType
from app.domain.ports import UnitOfWork, UnitOfWorkFactory
from tests.fakes import FakeStore, FakeUnitOfWorkFactory
from tests.services.factories import ORG_ID, Given


def test_the_fake_factory_and_unit_of_work_satisfy_the_ports() -> None:
    # given / when: typed assignments, checked by mypy (`mypy tests/fakes.py tests/services`)
    factory: UnitOfWorkFactory = FakeUnitOfWorkFactory()
    uow: UnitOfWork = factory(write=True, bulk=True)
    # then
    assert factory.pause_between_writes_s == 0
    assert uow is not None


def test_the_service_tests_import_nothing_of_sql() -> None:
    # given
    here = Path(__file__).parent
    files = [*here.glob("*.py"), here.parent / "fakes.py"]
    # when
    imported = {
        name
        for path in files
        for node in ast.walk(ast.parse(path.read_text()))
        for name in (
            [alias.name for alias in node.names]
            if isinstance(node, ast.Import)
            else [node.module or ""]
            if isinstance(node, ast.ImportFrom)
            else []
        )
    }
    # then
    forbidden = {n for n in imported if n.split(".")[0] in {"sqlalchemy", "sqlmodel", "aiosqlite", "asyncpg"}}
    forbidden |= {
        n for n in imported if n.startswith(("app.persistence", "app.graphql", "app.rest", "app.main"))
    }
    assert forbidden == set()


async def test_leaving_the_block_without_commit_discards_the_writes(
    uow_factory: FakeUnitOfWorkFactory, store: FakeStore, given: Given
) -> None:
    # given
    before = store.state()
    # when
    async with uow_factory(write=True) as uow:
        await uow.customers.add_many([Customer(org_id=ORG_ID, id=7)], created_at=0)
        assert await uow.customers.get(ORG_ID, 7) is not None  # it reads its own writes
    # then
    assert store.state() == before
    assert uow_factory.opened[-1].committed is False


async def test_a_commit_publishes_the_writes_to_later_units_of_work(
    uow_factory: FakeUnitOfWorkFactory, given: Given
) -> None:
    # given
    async with uow_factory(write=True) as uow:
        await uow.customers.add_many([Customer(org_id=ORG_ID, id=7, mobile="+4912345")], created_at=0)
        await uow.commit()
    # when
    async with uow_factory() as uow:
        found = await uow.customers.get_by_identifier(ORG_ID, CustomerIdentifierType.MOBILE, "+4912345")
    # then
    assert found == Customer(org_id=ORG_ID, id=7, mobile="+4912345")
    assert [(r.write, r.committed) for r in uow_factory.opened] == [(True, True), (False, False)]


async def test_a_uniqueness_clash_in_the_block_is_already_exists_out_of_it_and_rolls_back(
    uow_factory: FakeUnitOfWorkFactory, store: FakeStore, given: Given
) -> None:
    # given
    given.customers(7)
    before = store.state()
    # when
    with pytest.raises(AlreadyExists):
        async with uow_factory(write=True) as uow:
            await uow.customers.add_many([Customer(org_id=ORG_ID, id=8)], created_at=0)
            await uow.customers.add_many([Customer(org_id=ORG_ID, id=7)], created_at=0)
    # then
    assert store.state() == before


async def test_a_row_inserted_by_a_concurrent_commit_makes_commit_raise_already_exists(
    uow_factory: FakeUnitOfWorkFactory, store: FakeStore, given: Given
) -> None:
    # given
    async def concurrent_import() -> None:
        async with uow_factory(write=True) as other:
            await other.customers.add_many([Customer(org_id=ORG_ID, id=7, email="a@b.co")], created_at=0)
            await other.commit()

    uow_factory.before_next_commit(concurrent_import)
    # when
    with pytest.raises(AlreadyExists):
        async with uow_factory(write=True) as uow:
            await uow.customers.add_many([Customer(org_id=ORG_ID, id=7)], created_at=0)
            await uow.commit()
    # then: the concurrent row, nothing of ours
    assert store.tables.customers[(ORG_ID, 7)] == Customer(org_id=ORG_ID, id=7, email="a@b.co")


async def test_a_row_changed_by_a_concurrent_commit_makes_commit_raise_resource_locked(
    uow_factory: FakeUnitOfWorkFactory, store: FakeStore, given: Given
) -> None:
    # given
    promotion = given.promotion(max_redemptions_per_earn=2)
    given.customers(7)
    entry = given.entry(promotion, 7)

    async def concurrent_redemption() -> None:
        async with uow_factory(write=True) as other:
            assert await other.wallet.consume(ORG_ID, 7, entry.id, 1, now=given.now) == 1
            await other.commit()

    uow_factory.before_next_commit(concurrent_redemption)
    # when
    with pytest.raises(ResourceLocked):
        async with uow_factory(write=True) as uow:
            assert await uow.wallet.consume(ORG_ID, 7, entry.id, 2, now=given.now) == 1
            await uow.commit()
    # then
    assert store.entry(entry.id).redemptions_used == 1


async def test_the_factory_refuses_the_chosen_unit_of_work_with_resource_locked(
    uow_factory: FakeUnitOfWorkFactory,
) -> None:
    # given
    uow_factory.fail_with_lock(after=1, retry_after_ms=250)
    # when
    async with uow_factory():
        pass
    with pytest.raises(ResourceLocked) as raised:
        async with uow_factory(write=True):
            pass
    async with uow_factory(write=True, bulk=True):
        pass
    # then
    assert raised.value.retry_after_ms == 250
    assert [(r.write, r.bulk, r.refused) for r in uow_factory.opened] == [
        (False, False, False),
        (True, False, True),
        (True, True, False),
    ]


async def test_a_write_in_a_read_only_unit_of_work_is_a_test_failure(
    uow_factory: FakeUnitOfWorkFactory, given: Given
) -> None:
    with pytest.raises(AssertionError, match="write=True"):
        async with uow_factory() as uow:
            await uow.customers.add_many([Customer(org_id=ORG_ID, id=7)], created_at=0)


async def test_using_a_unit_of_work_after_its_commit_is_a_test_failure(
    uow_factory: FakeUnitOfWorkFactory, given: Given
) -> None:
    with pytest.raises(AssertionError, match="after commit"):
        async with uow_factory(write=True) as uow:
            await uow.commit()
            await uow.orgs.get(ORG_ID)
