"""importCustomers against the real databases: the statements that send many customers or
identifiers as one bound row source (id_sets.value_rows / text_rows)."""

from __future__ import annotations

import pytest

from app.domain.commands import CreateCustomer
from app.domain.errors import AlreadyExists
from app.domain.models import Customer, Principal, Scope
from app.persistence.database import Database
from app.persistence.uow import SqlUnitOfWork, SqlUnitOfWorkFactory
from app.services import admin
from tests.conftest import ORG_ID

PRINCIPAL = Principal(org_id=ORG_ID, client_id=0, username="admin", scopes=frozenset(Scope))


def with_identifiers(customer_id: int, tag: str = "") -> CreateCustomer:
    return CreateCustomer(
        id=customer_id,
        mobile=f"9{customer_id:09d}",
        email=f"c{customer_id}{tag}@example.com",
        external_id=f"x-{customer_id}{tag}",
    )


async def stored(database: Database, customer_ids: list[int]) -> dict[int, Customer]:
    async with SqlUnitOfWork(database) as uow:
        return await uow.customers.get_many(ORG_ID, customer_ids)


async def test_import_stores_every_customer_with_its_identifiers_and_only_those_it_created(
    database: Database,
) -> None:
    # given: more identifiers (6,000) than the clash check plans with its values on PostgreSQL
    await admin.create_org(SqlUnitOfWorkFactory(database), org_id=ORG_ID, name="Org")
    commands = [with_identifiers(i) for i in range(1, 2001)] + [
        CreateCustomer(id=2001),
        CreateCustomer(id=2002, email="only-email@example.com"),
    ]
    # when
    result = await admin.import_customers(SqlUnitOfWorkFactory(database), PRINCIPAL, commands)
    # then
    assert (result.created_count, result.skipped_count, result.rejected) == (2002, 0, [])
    customers = await stored(database, list(range(1, 2003)))
    assert customers[7] == Customer(
        org_id=ORG_ID, id=7, mobile="9000000007", email="c7@example.com", external_id="x-7"
    )
    assert customers[2001] == Customer(org_id=ORG_ID, id=2001)
    assert customers[2002] == Customer(org_id=ORG_ID, id=2002, email="only-email@example.com")
    assert len(customers) == 2002
    # when: the same rows again
    again = await admin.import_customers(SqlUnitOfWorkFactory(database), PRINCIPAL, commands)
    # then: all skipped, identical
    assert (again.created_count, again.skipped_count, again.rejected) == (0, 2002, [])


async def test_repeated_imports_keep_finding_identifiers_that_belong_to_other_customers(
    database: Database,
) -> None:
    # given: asyncpg prepares the clash check once per connection, and PostgreSQL may plan it
    # generically from its sixth run: every run must still find the taken identifiers
    await admin.create_org(SqlUnitOfWorkFactory(database), org_id=ORG_ID, name="Org")
    await admin.import_customers(
        SqlUnitOfWorkFactory(database), PRINCIPAL, [with_identifiers(i) for i in range(1, 101)]
    )
    for run in range(8):
        first = 1000 * (run + 1)
        # each row takes the mobile of an existing customer (1..100), with its own email and id
        commands = [
            CreateCustomer(id=first + i, mobile=f"9{i:09d}", email=f"new{first + i}@example.com")
            for i in range(1, 51)
        ] + [with_identifiers(first + 100 + i) for i in range(1, 51)]
        # when
        result = await admin.import_customers(SqlUnitOfWorkFactory(database), PRINCIPAL, commands)
        # then
        assert result.created_count == 50
        assert [row.index for row in result.rejected] == list(range(50))
        assert {str(row.error) for row in result.rejected} == {
            f"mobile '9{i:09d}' already belongs to another customer" for i in range(1, 51)
        }
        assert set(await stored(database, [first + i for i in range(1, 151)])) == {
            first + 100 + i for i in range(1, 51)
        }


async def test_an_import_after_customers_were_created_skips_identical_ones_and_rejects_changed_ones(
    database: Database,
) -> None:
    # given
    await admin.create_org(SqlUnitOfWorkFactory(database), org_id=ORG_ID, name="Org")
    await admin.import_customers(
        SqlUnitOfWorkFactory(database), PRINCIPAL, [with_identifiers(i) for i in range(1, 11)]
    )
    commands = [with_identifiers(3), with_identifiers(4, tag="-changed"), with_identifiers(11)]
    # when
    result = await admin.import_customers(SqlUnitOfWorkFactory(database), PRINCIPAL, commands)
    # then
    assert (result.created_count, result.skipped_count) == (1, 1)
    assert [(row.index, str(row.error)) for row in result.rejected] == [
        (1, "customer 4 already exists with other identifiers")
    ]
    assert (await stored(database, [4]))[4].email == "c4@example.com"


TRICKY_TEXTS = [
    'quote " and backslash \\',
    "tab\there",
    "é ü 😀 \u2028 \u00a0",
    "{json}: [1, 2]",
    "' OR 1=1 --",
]


async def test_identifiers_of_any_text_are_stored_exactly_as_given(database: Database) -> None:
    # given customers whose identifiers need escaping in JSON (SQLite reads them from one JSON object)
    await admin.create_org(SqlUnitOfWorkFactory(database), org_id=ORG_ID, name="Org")
    customers = [
        Customer(org_id=ORG_ID, id=i + 1, mobile=f"mobile {text}", email=f"email {text}", external_id=text)
        for i, text in enumerate(TRICKY_TEXTS)
    ] + [Customer(org_id=ORG_ID, id=100), Customer(org_id=ORG_ID, id=101, external_id="only this")]
    # when
    async with SqlUnitOfWork(database, write=True, bulk=True) as uow:
        await uow.customers.add_many(customers, created_at=1)
        await uow.commit()
    # then
    found = await stored(database, [c.id for c in customers])
    assert [found[c.id] for c in customers] == customers


async def test_adding_one_identifier_twice_is_refused_by_the_database_and_writes_nothing(
    database: Database,
) -> None:
    # given two new customers with one email (the service never sends this: the constraint decides)
    await admin.create_org(SqlUnitOfWorkFactory(database), org_id=ORG_ID, name="Org")
    twice = [
        Customer(org_id=ORG_ID, id=1, email="same@example.com", external_id="x-1"),
        Customer(org_id=ORG_ID, id=2, email="same@example.com", external_id="x-2"),
    ]
    # when / then
    with pytest.raises(AlreadyExists):
        async with SqlUnitOfWork(database, write=True, bulk=True) as uow:
            await uow.customers.add_many(twice, created_at=1)
            await uow.commit()
    assert await stored(database, [1, 2]) == {}
