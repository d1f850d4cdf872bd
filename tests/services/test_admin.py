"""The admin use cases on fakes: orgs, API clients, promotions (the active cap), customer imports,
org settings."""

from __future__ import annotations

import gc
from collections.abc import Awaitable, Iterator
from typing import Any

import pytest

from app.domain.clock import DAY_MS
from app.domain.commands import CreateCustomer, CreatePromotion, UpdateOrgSettings
from app.domain.errors import (
    DomainError,
    InvalidCustomerIdentifier,
    InvalidRequest,
    MaxActivePromotionsExceeded,
)
from app.domain.models import Customer, Org, OrgSettings, Principal, PromotionType
from app.services import admin
from tests.fakes import FakeStore, FakeUnitOfWorkFactory
from tests.services.factories import MISSING_ORG_ID, ORG_ID, Given, principal_of


async def refused_with(store: FakeStore, call: Awaitable[object]) -> DomainError:
    """The error `call` (an awaitable) is refused with; it must have written nothing."""
    before = store.state()
    with pytest.raises(DomainError) as raised:
        await call
    assert store.state() == before
    return raised.value


# --- Orgs ------------------------------------------------------------------------------------


async def test_create_org_stores_an_org_with_default_settings_in_its_timezone(
    uow_factory: FakeUnitOfWorkFactory, store: FakeStore
) -> None:
    org = await admin.create_org(uow_factory, org_id=42, name="Shop", timezone="Asia/Kolkata")
    assert org == Org(id=42, name="Shop", settings=OrgSettings(timezone="Asia/Kolkata"))
    assert store.tables.orgs[42] == org
    assert await admin.get_org(uow_factory, 42) == org


@pytest.mark.parametrize(
    ("org_id", "timezone", "field"), [(0, "UTC", "id"), (42, "Mars/Olympus", "timezone")]
)
async def test_create_org_refuses_a_bad_id_or_timezone_before_opening_a_unit_of_work(
    uow_factory: FakeUnitOfWorkFactory, store: FakeStore, org_id: int, timezone: str, field: str
) -> None:
    call = admin.create_org(uow_factory, org_id=org_id, name="Shop", timezone=timezone)
    error = await refused_with(store, call)
    assert isinstance(error, InvalidRequest) and error.field == field
    assert uow_factory.opened == []


async def test_create_org_refuses_an_org_that_exists(
    uow_factory: FakeUnitOfWorkFactory, store: FakeStore, given: Given
) -> None:
    error = await refused_with(store, admin.create_org(uow_factory, org_id=ORG_ID, name="Again"))
    assert isinstance(error, InvalidRequest) and error.field == "id"


async def test_create_org_beaten_by_a_concurrent_creation_is_the_same_already_exists_error(
    uow_factory: FakeUnitOfWorkFactory, store: FakeStore
) -> None:
    # given
    async def the_other_call() -> None:
        await admin.create_org(uow_factory, org_id=42, name="Theirs")

    uow_factory.before_next_commit(the_other_call)
    # when
    with pytest.raises(InvalidRequest) as raised:
        await admin.create_org(uow_factory, org_id=42, name="Ours")
    # then
    assert raised.value.field == "id"
    assert store.tables.orgs[42].name == "Theirs"


async def test_get_org_of_a_missing_org_is_an_org_error(uow_factory: FakeUnitOfWorkFactory) -> None:
    with pytest.raises(InvalidRequest) as raised:
        await admin.get_org(uow_factory, MISSING_ORG_ID)
    assert raised.value.field == "org"


# --- API clients (the secret hash is scrypt, slow by design: replaced here) --------------------


@pytest.fixture
def hashed(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    secrets: list[str] = []

    def fast_hash(secret: str) -> str:
        secrets.append(secret)
        return f"hashed:{secret}"

    monkeypatch.setattr(admin, "hash_secret", fast_hash)
    yield secrets


async def test_create_client_stores_a_hash_of_its_secret_and_its_scopes_once_each(
    uow_factory: FakeUnitOfWorkFactory, store: FakeStore, given: Given, hashed: list[str]
) -> None:
    # when
    credentials = await admin.create_client(
        uow_factory, org_id=ORG_ID, name="till", scopes=["wallet:write", "wallet:read", "wallet:write"]
    )
    # then
    (record,) = store.tables.clients.values()
    assert (record.username, record.org_id, record.name) == (credentials.username, ORG_ID, "till")
    assert record.secret_hash == f"hashed:{credentials.password}"
    assert record.scopes == ("wallet:write", "wallet:read")
    assert record.active


@pytest.mark.parametrize("scopes", [[], ["wallet:read", "root"]])
async def test_create_client_refuses_unknown_or_no_scopes_before_hashing(
    uow_factory: FakeUnitOfWorkFactory, store: FakeStore, given: Given, hashed: list[str], scopes: list[str]
) -> None:
    call = admin.create_client(uow_factory, org_id=ORG_ID, name="till", scopes=scopes)
    error = await refused_with(store, call)
    assert isinstance(error, InvalidRequest) and error.field == "scope"
    assert (hashed, uow_factory.opened) == ([], [])


async def test_create_client_signs_in_with_the_username_chosen_and_keeps_the_name_as_a_label(
    uow_factory: FakeUnitOfWorkFactory, store: FakeStore, given: Given, hashed: list[str]
) -> None:
    credentials = await admin.create_client(
        uow_factory, org_id=ORG_ID, name="Checkout tills", scopes=["admin"], username="pos-1"
    )
    (record,) = store.tables.clients.values()
    assert credentials.username == record.username == "pos-1"
    assert record.name == "Checkout tills"


@pytest.mark.parametrize("username", ["", "with space", "a:b", "-leading", "x" * 65])
async def test_create_client_refuses_a_username_basic_credentials_cannot_carry_before_hashing(
    uow_factory: FakeUnitOfWorkFactory, store: FakeStore, given: Given, hashed: list[str], username: str
) -> None:
    call = admin.create_client(uow_factory, org_id=ORG_ID, name="till", scopes=["admin"], username=username)
    error = await refused_with(store, call)
    assert isinstance(error, InvalidRequest) and error.field == "username"
    assert (hashed, uow_factory.opened) == ([], [])


async def test_create_client_refuses_a_taken_username(
    uow_factory: FakeUnitOfWorkFactory, store: FakeStore, given: Given, hashed: list[str]
) -> None:
    await admin.create_client(uow_factory, org_id=ORG_ID, name="a", scopes=["admin"], username="till-1")
    uow_factory.opened.clear()
    call = admin.create_client(uow_factory, org_id=ORG_ID, name="b", scopes=["admin"], username="till-1")
    error = await refused_with(store, call)
    assert isinstance(error, InvalidRequest) and error.field == "username"


async def test_create_client_beaten_by_a_concurrent_one_with_its_username_is_the_same_error(
    uow_factory: FakeUnitOfWorkFactory, store: FakeStore, given: Given, hashed: list[str]
) -> None:
    # given
    async def the_other_call() -> None:
        await admin.create_client(
            uow_factory, org_id=ORG_ID, name="theirs", scopes=["admin"], username="till-1"
        )

    uow_factory.before_next_commit(the_other_call)
    # when
    with pytest.raises(InvalidRequest) as raised:
        await admin.create_client(
            uow_factory, org_id=ORG_ID, name="ours", scopes=["admin"], username="till-1"
        )
    # then
    assert raised.value.field == "username"
    assert [c.name for c in store.tables.clients.values()] == ["theirs"]


async def test_create_client_of_a_missing_org_is_an_org_error(
    uow_factory: FakeUnitOfWorkFactory, store: FakeStore, hashed: list[str]
) -> None:
    call = admin.create_client(uow_factory, org_id=MISSING_ORG_ID, name="till", scopes=["admin"])
    error = await refused_with(store, call)
    assert isinstance(error, InvalidRequest) and error.field == "org"


# --- Promotions ------------------------------------------------------------------------------


def a_promotion(
    now: int, *, starts_in_days: int = -1, ends_in_days: int = 30, active: bool = True, **fields: Any
) -> CreatePromotion:
    return CreatePromotion(
        name=str(fields.pop("name", "Ten off")),
        type=PromotionType.EARNING,
        start_date=now + starts_in_days * DAY_MS,
        end_date=now + ends_in_days * DAY_MS,
        active=active,
        **fields,
    )


async def test_create_promotion_stores_it_under_the_org_lock(
    uow_factory: FakeUnitOfWorkFactory, store: FakeStore, principal: Principal, given: Given, now: int
) -> None:
    # when
    promotion = await admin.create_promotion(
        uow_factory, principal, a_promotion(now, redemption_window_days=7, max_earns_per_customer=2)
    )
    # then
    assert store.tables.promotions[promotion.id] == promotion
    assert (promotion.org_id, promotion.redemption_window_days, promotion.max_earns_per_customer) == (
        ORG_ID,
        7,
        2,
    )
    assert promotion.max_redemptions_per_earn == 1  # the default, once: domain/commands.py
    (record,) = uow_factory.opened
    assert (record.write, record.committed, record.locks) == (True, True, [("org", ORG_ID)])


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"name": " "}, "name"),
        ({"name": "n" * 51}, "name"),
        ({"starts_in_days": 5, "ends_in_days": 4}, "endDate"),
        ({"redemption_window_days": 0}, "redemptionWindowDays"),
        ({"max_redemptions_per_earn": 0}, "maxRedemptionsPerEarn"),
        ({"max_earns_per_customer": 0}, "maxEarnsPerCustomer"),
    ],
    ids=["blank name", "long name", "ends before it starts", "window", "redemptions", "earns"],
)
async def test_create_promotion_refuses_an_invalid_definition_before_opening_a_unit_of_work(
    uow_factory: FakeUnitOfWorkFactory,
    store: FakeStore,
    principal: Principal,
    given: Given,
    now: int,
    fields: dict[str, Any],
    field: str,
) -> None:
    call = admin.create_promotion(uow_factory, principal, a_promotion(now, **fields))
    error = await refused_with(store, call)
    assert isinstance(error, InvalidRequest) and error.field == field
    assert uow_factory.opened == []


async def test_create_promotion_refuses_an_active_one_that_would_pass_the_orgs_cap(
    uow_factory: FakeUnitOfWorkFactory, store: FakeStore, principal: Principal, given: Given, now: int
) -> None:
    # given: 2 counting toward a cap of 2 (one of them upcoming), 2 that do not
    given.settings(max_active_promotions=2)
    given.promotion()
    given.promotion(starts_in_days=5)
    given.promotion(active=False)
    given.promotion(ends_in_days=-1, starts_in_days=-5)
    # when
    error = await refused_with(store, admin.create_promotion(uow_factory, principal, a_promotion(now)))
    # then
    assert isinstance(error, MaxActivePromotionsExceeded) and error.limit == 2


@pytest.mark.parametrize("kind", ["inactive", "ended"], ids=["an inactive one", "one that has ended"])
async def test_create_promotion_at_the_cap_still_takes_one_that_does_not_count(
    uow_factory: FakeUnitOfWorkFactory, principal: Principal, given: Given, now: int, kind: str
) -> None:
    given.settings(max_active_promotions=1)
    given.promotion()
    command = (
        a_promotion(now, active=False)
        if kind == "inactive"
        else a_promotion(now, starts_in_days=-9, ends_in_days=-1)
    )
    promotion = await admin.create_promotion(uow_factory, principal, command)
    assert promotion.id in given.store.tables.promotions


async def test_create_promotion_up_to_the_cap_is_accepted(
    uow_factory: FakeUnitOfWorkFactory, principal: Principal, given: Given, now: int
) -> None:
    given.settings(max_active_promotions=2)
    given.promotion()
    await admin.create_promotion(uow_factory, principal, a_promotion(now))
    assert len(given.store.tables.promotions) == 2


async def test_create_promotion_of_a_missing_org_is_an_org_error(
    uow_factory: FakeUnitOfWorkFactory, store: FakeStore, now: int
) -> None:
    call = admin.create_promotion(uow_factory, principal_of(MISSING_ORG_ID), a_promotion(now))
    error = await refused_with(store, call)
    assert isinstance(error, InvalidRequest) and error.field == "org"


# --- Customers -------------------------------------------------------------------------------


async def test_import_customers_creates_new_ones_skips_identical_ones_and_rejects_conflicts_by_index(
    uow_factory: FakeUnitOfWorkFactory, store: FakeStore, principal: Principal, given: Given
) -> None:
    # given
    given.customer(1, mobile="+4911111")
    given.customer(2, email="two@example.com")
    rows = [
        CreateCustomer(id=1, mobile="+4911111"),  # 0: exists identically: skipped
        CreateCustomer(id=2, email="other@example.com"),  # 1: exists with other identifiers
        CreateCustomer(id=3, mobile="+4911111"),  # 2: customer 1's mobile
        CreateCustomer(id=4, email="four@example.com"),  # 3: new
        CreateCustomer(id=4, email="four@example.com"),  # 4: repeats row 3: skipped
        CreateCustomer(id=4, email="vier@example.com"),  # 5: contradicts row 3
        CreateCustomer(id=5, email="four@example.com"),  # 6: row 3's email
        CreateCustomer(id=0),  # 7: not a customer id
        CreateCustomer(id=6, email="not an email"),  # 8: bad email
        CreateCustomer(id=7, external_id="ext-7"),  # 9: new
    ]
    # when
    result = await admin.import_customers(uow_factory, principal, rows)
    # then
    assert (result.created_count, result.skipped_count) == (2, 2)
    assert [r.index for r in result.rejected] == [1, 2, 5, 6, 7, 8]
    assert [getattr(r.error, "field", None) for r in result.rejected] == [
        "id",
        "mobile",
        "id",
        "email",
        None,
        "email",
    ]
    assert isinstance(result.rejected[4].error, InvalidCustomerIdentifier)
    assert store.tables.customers[(ORG_ID, 4)] == Customer(org_id=ORG_ID, id=4, email="four@example.com")
    assert store.tables.customers[(ORG_ID, 7)] == Customer(org_id=ORG_ID, id=7, external_id="ext-7")
    assert sorted(cid for org, cid in store.tables.customers if org == ORG_ID) == [1, 2, 4, 7]


async def test_import_customers_rejects_a_row_reusing_an_earlier_rows_identifier_naming_the_first_kind(
    uow_factory: FakeUnitOfWorkFactory, store: FakeStore, principal: Principal, given: Given
) -> None:
    # given an org without customers: only rows of this call claim identifiers
    rows = [
        CreateCustomer(id=1, mobile="+4911111", email="one@example.com", external_id="x-1"),
        CreateCustomer(id=2, mobile="+4922222", email="two@example.com", external_id="x-1"),  # row 0's x-1
        CreateCustomer(id=3, mobile="+4911111", email="one@example.com"),  # row 0's mobile and email
        CreateCustomer(id=4, external_id="x-2"),
        CreateCustomer(id=5, mobile="+4922222"),  # row 1 was rejected: its mobile is free
    ]
    # when
    result = await admin.import_customers(uow_factory, principal, rows)
    # then
    assert [(r.index, str(r.error)) for r in result.rejected] == [
        (1, "external_id 'x-1' already belongs to another customer"),
        (2, "mobile '+4911111' already belongs to another customer"),
    ]
    assert result.created_count == 3
    assert sorted(cid for org, cid in store.tables.customers if org == ORG_ID) == [1, 4, 5]


async def test_import_customers_works_with_the_cyclic_collector_paused_and_turns_it_on_after(
    uow_factory: FakeUnitOfWorkFactory, principal: Principal, given: Given
) -> None:
    # given
    collector_on: list[bool] = []

    def recording(**kinds: bool) -> Any:
        collector_on.append(gc.isenabled())
        return uow_factory(**kinds)

    gc.enable()
    # when
    result = await admin.import_customers(recording, principal, [CreateCustomer(id=9)])
    # then
    assert result.created_count == 1
    assert collector_on == [False]
    assert gc.isenabled()


async def test_import_customers_refuses_more_rows_than_its_batch_before_opening_a_unit_of_work(
    uow_factory: FakeUnitOfWorkFactory, store: FakeStore, principal: Principal, given: Given
) -> None:
    rows = [CreateCustomer(id=i) for i in range(1, 4)]
    error = await refused_with(store, admin.import_customers(uow_factory, principal, rows, max_batch=2))
    assert isinstance(error, InvalidRequest) and error.field == "customers"
    assert uow_factory.opened == []


async def test_import_customers_beaten_by_a_concurrent_import_is_a_clear_retry_error_and_writes_nothing(
    uow_factory: FakeUnitOfWorkFactory, store: FakeStore, principal: Principal, given: Given
) -> None:
    # given
    async def the_other_import() -> None:
        await admin.import_customers(uow_factory, principal, [CreateCustomer(id=3)])

    uow_factory.before_next_commit(the_other_import)
    # when
    with pytest.raises(InvalidRequest) as raised:
        await admin.import_customers(uow_factory, principal, [CreateCustomer(id=2), CreateCustomer(id=3)])
    # then
    assert "concurrently" in raised.value.message and "retry" in raised.value.message
    assert sorted(cid for _, cid in store.tables.customers) == [3]


async def test_import_customers_into_a_missing_org_is_an_org_error(
    uow_factory: FakeUnitOfWorkFactory, store: FakeStore
) -> None:
    call = admin.import_customers(uow_factory, principal_of(MISSING_ORG_ID), [CreateCustomer(id=1)])
    error = await refused_with(store, call)
    assert isinstance(error, InvalidRequest) and error.field == "org"


async def test_create_customer_refuses_one_that_exists_and_raises_a_rejected_rows_error(
    uow_factory: FakeUnitOfWorkFactory, store: FakeStore, principal: Principal, given: Given
) -> None:
    # given
    created = await admin.create_customer(uow_factory, principal, CreateCustomer(id=9, mobile="+4999999"))
    assert store.tables.customers[(ORG_ID, 9)] == created
    # when / then
    again = await refused_with(
        store,
        admin.create_customer(uow_factory, principal, CreateCustomer(id=9, mobile="+4999999")),
    )
    assert isinstance(again, InvalidRequest) and again.field == "id" and "already exists" in again.message
    clash = await refused_with(
        store,
        admin.create_customer(uow_factory, principal, CreateCustomer(id=10, mobile="+4999999")),
    )
    assert isinstance(clash, InvalidRequest) and clash.field == "mobile"


# --- Org settings ----------------------------------------------------------------------------


async def test_update_org_settings_changes_only_what_is_given(
    uow_factory: FakeUnitOfWorkFactory, store: FakeStore, principal: Principal, given: Given
) -> None:
    # given
    given.settings(timezone="Asia/Kolkata", web_engage_account_id="~2024c5d1")
    # when
    settings = await admin.update_org_settings(
        uow_factory,
        principal,
        UpdateOrgSettings(max_active_promotions=7, redemption_without_evaluation=False),
    )
    # then
    expected = OrgSettings(
        timezone="Asia/Kolkata",
        max_active_promotions=7,
        redemption_without_evaluation=False,
        web_engage_account_id="~2024c5d1",
    )
    assert settings == store.tables.orgs[ORG_ID].settings == expected


async def test_update_org_settings_clears_the_web_engage_account_with_an_empty_string(
    uow_factory: FakeUnitOfWorkFactory, store: FakeStore, principal: Principal, given: Given
) -> None:
    given.settings(web_engage_account_id="~2024c5d1")
    settings = await admin.update_org_settings(
        uow_factory, principal, UpdateOrgSettings(web_engage_account_id="")
    )
    assert settings.web_engage_account_id is None
    assert store.tables.orgs[ORG_ID].settings.web_engage_account_id is None


@pytest.mark.parametrize(
    ("command", "field"),
    [
        (UpdateOrgSettings(timezone="Mars/Olympus"), "timezone"),
        (UpdateOrgSettings(max_active_promotions=0), "maxActivePromotions"),
        (UpdateOrgSettings(web_engage_account_id="w" * 65), "webEngageAccountId"),
    ],
    ids=["timezone", "maxActivePromotions", "webEngageAccountId"],
)
async def test_update_org_settings_refuses_invalid_values_before_opening_a_unit_of_work(
    uow_factory: FakeUnitOfWorkFactory,
    store: FakeStore,
    principal: Principal,
    given: Given,
    command: UpdateOrgSettings,
    field: str,
) -> None:
    error = await refused_with(store, admin.update_org_settings(uow_factory, principal, command))
    assert isinstance(error, InvalidRequest) and error.field == field
    assert uow_factory.opened == []


async def test_update_org_settings_of_a_missing_org_is_an_org_error(
    uow_factory: FakeUnitOfWorkFactory, store: FakeStore
) -> None:
    call = admin.update_org_settings(
        uow_factory, principal_of(MISSING_ORG_ID), UpdateOrgSettings(timezone="UTC")
    )
    error = await refused_with(store, call)
    assert isinstance(error, InvalidRequest) and error.field == "org"
