"""Admin use cases: orgs, API clients, promotions, customers, org settings."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace

from app.auth.secrets import hash_secret, new_secret
from app.domain import rules
from app.domain.clock import is_valid_timezone, now_ms
from app.domain.commands import CreateCustomer, CreatePromotion, UpdateOrgSettings
from app.domain.errors import AlreadyExists, DomainError, InvalidCustomerIdentifier, InvalidRequest
from app.domain.ids import is_valid_customer_id, new_object_id
from app.domain.models import Customer, CustomerIdentifierType, Org, OrgSettings, Principal, Promotion, Scope
from app.domain.ports import UnitOfWorkFactory
from app.services.org_lookup import caller_org


@dataclass(frozen=True, slots=True)
class ClientCredentials:
    username: str
    password: str


@dataclass(frozen=True, slots=True)
class RejectedRow:
    index: int
    error: DomainError


@dataclass(frozen=True, slots=True)
class ImportResult:
    created_count: int
    skipped_count: int
    rejected: list[RejectedRow]


async def create_org(uow_factory: UnitOfWorkFactory, *, org_id: int, name: str, timezone: str = "UTC") -> Org:
    if org_id <= 0:
        raise InvalidRequest("org id must be a positive integer", field="id")
    if not is_valid_timezone(timezone):
        raise InvalidRequest(f"unknown timezone {timezone!r}", field="timezone")
    org = Org(id=org_id, name=name, settings=OrgSettings(timezone=timezone))
    exists = InvalidRequest(f"org {org_id} already exists", field="id")
    try:
        async with uow_factory(write=True) as uow:
            if await uow.orgs.get(org_id) is not None:
                raise exists
            await uow.orgs.add(org, created_at=now_ms())
            await uow.commit()
    except AlreadyExists as exc:
        # A concurrent call created it first (PostgreSQL: both read no org): the same answer.
        raise exists from exc
    return org


async def create_client(
    uow_factory: UnitOfWorkFactory,
    *,
    org_id: int,
    name: str,
    scopes: Sequence[str],
    username: str | None = None,
    password: str | None = None,
) -> ClientCredentials:
    unknown = [s for s in scopes if s not in Scope._value2member_map_]
    if unknown or not scopes:
        raise InvalidRequest(f"scopes must be among {[s.value for s in Scope]}", field="scope")
    if username is None:
        username = f"client-{new_object_id()[8:20]}"
    else:
        rules.check_client_username(username)
    password = password or new_secret()
    secret_hash = await asyncio.to_thread(hash_secret, password)  # slow by design: off the event loop
    taken = InvalidRequest(f"client {username!r} already exists", field="username")
    try:
        async with uow_factory(write=True) as uow:
            await caller_org(uow, org_id)
            if await uow.clients.get_by_username(username) is not None:
                raise taken
            await uow.clients.add(
                org_id=org_id,
                name=name,
                username=username,
                secret_hash=secret_hash,
                scopes=list(dict.fromkeys(scopes)),
                created_at=now_ms(),
            )
            await uow.commit()
    except AlreadyExists as exc:
        # A concurrent call took the username first (the unique constraint decided): the same answer.
        raise taken from exc
    return ClientCredentials(username=username, password=password)


async def create_promotion(
    uow_factory: UnitOfWorkFactory, principal: Principal, command: CreatePromotion
) -> Promotion:
    rules.check_promotion_definition(
        name=command.name,
        start_date=command.start_date,
        end_date=command.end_date,
        redemption_window_days=command.redemption_window_days,
        max_redemptions_per_earn=command.max_redemptions_per_earn,
        max_earns_per_customer=command.max_earns_per_customer,
    )
    now = now_ms()
    promotion = Promotion(
        org_id=principal.org_id,
        id=new_object_id(now),
        name=command.name,
        type=command.type,
        start_date=command.start_date,
        end_date=command.end_date,
        active=command.active,
        redemption_window_days=command.redemption_window_days,
        max_redemptions_per_earn=command.max_redemptions_per_earn,
        max_earns_per_customer=command.max_earns_per_customer,
        created_at=now,
    )
    async with uow_factory(write=True) as uow:
        await uow.orgs.lock(principal.org_id)
        org = await caller_org(uow, principal.org_id)
        if rules.counts_toward_active_cap(promotion, now):
            active = await uow.promotions.count_active(principal.org_id, now=now)
            rules.check_active_cap(active_count=active + 1, limit=org.settings.max_active_promotions)
        await uow.promotions.add(promotion)
        await uow.commit()
    return promotion


@contextmanager
def collection_paused() -> Iterator[None]:
    """The cyclic garbage collector off while a bulk call builds and holds its rows: each full
    collection would walk every one of them (100,000 customers, their commands and the inputs they
    came from), several times per call. What the rows leave is freed by reference counting; other
    requests' cycles wait for the next collection after it. Only the caller that turned it off
    turns it on again, so overlapping calls leave it as they found it."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _customer_from(command: CreateCustomer, org_id: int) -> Customer:
    if not is_valid_customer_id(command.id):
        raise InvalidCustomerIdentifier("id must be a positive 64-bit integer", indexes=[0])
    rules.check_customer_identifiers(
        mobile=command.mobile, email=command.email, external_id=command.external_id
    )
    return Customer(
        org_id=org_id,
        id=int(command.id),  # type: ignore[call-overload]
        mobile=command.mobile,
        email=command.email,
        external_id=command.external_id,
    )


async def create_customer(
    uow_factory: UnitOfWorkFactory, principal: Principal, command: CreateCustomer
) -> Customer:
    customer = _customer_from(command, principal.org_id)
    result = await import_customers(uow_factory, principal, [command])
    if result.rejected:
        raise result.rejected[0].error
    if result.skipped_count:
        raise InvalidRequest(f"customer {customer.id} already exists", field="id")
    return customer


async def import_customers(
    uow_factory: UnitOfWorkFactory,
    principal: Principal,
    commands: Sequence[CreateCustomer],
    *,
    max_batch: int = 100_000,
) -> ImportResult:
    """Bulk create. A row is skipped when the same customer already exists identically, and
    rejected (with its index and reason) when it is invalid or conflicts with existing data."""
    if len(commands) > max_batch:
        raise InvalidRequest(f"at most {max_batch} customers per call", field="customers")
    with collection_paused():
        return await _import_customers(uow_factory, principal, commands)


async def _import_customers(
    uow_factory: UnitOfWorkFactory, principal: Principal, commands: Sequence[CreateCustomer]
) -> ImportResult:
    rejected: list[RejectedRow] = []
    candidates: dict[int, tuple[int, Customer]] = {}
    repeats = 0  # rows repeating an earlier row of this call exactly: skipped, like existing ones
    for index, command in enumerate(commands):
        try:
            customer = _customer_from(command, principal.org_id)
        except DomainError as error:
            rejected.append(RejectedRow(index, error))
            continue
        if customer.id in candidates:
            earlier = candidates[customer.id][1]
            if earlier != customer:
                rejected.append(
                    RejectedRow(
                        index,
                        InvalidRequest(
                            f"customer {customer.id} appears earlier in this call with other identifiers",
                            field="id",
                        ),
                    )
                )
            else:
                repeats += 1
            continue
        candidates[customer.id] = (index, customer)

    # bulk: up to max_batch (100,000) customers, which must not hold up the event loop (SQLite).
    try:
        async with uow_factory(write=True, bulk=True) as uow:
            await caller_org(uow, principal.org_id)
            # Most imports create most of their rows: which ids exist is one statement that
            # returns only ids, and only those customers are read back with their identifiers.
            missing = await uow.customers.missing_ids(principal.org_id, list(candidates))
            existing = await uow.customers.get_many(
                principal.org_id, [customer_id for customer_id in candidates if customer_id not in missing]
            )
            skipped = repeats
            fresh: list[tuple[int, Customer]] = []
            for customer_id, (index, customer) in candidates.items():
                if customer_id in existing:
                    if existing[customer_id] == customer:
                        skipped += 1
                    else:
                        rejected.append(
                            RejectedRow(
                                index,
                                InvalidRequest(
                                    f"customer {customer_id} already exists with other identifiers",
                                    field="id",
                                ),
                            )
                        )
                else:
                    fresh.append((index, customer))
            values = _identifier_values(fresh)
            taken = await uow.customers.taken_identifiers(
                principal.org_id, [(kind, value) for kind, of_kind in values.items() for value in of_kind]
            )
            fresh = _without_identifier_conflicts(fresh, rejected, taken, values)
            await uow.customers.add_many([c for _, c in fresh], created_at=now_ms())
            await uow.commit()
    except AlreadyExists as exc:
        # Only a concurrent import of the same customers gets here; nothing was written.
        raise InvalidRequest("customers were created concurrently by another request; retry") from exc
    rejected.sort(key=lambda row: row.index)
    return ImportResult(created_count=len(fresh), skipped_count=skipped, rejected=rejected)


_MOBILE, _EMAIL, _EXTERNAL_ID = (
    CustomerIdentifierType.MOBILE,
    CustomerIdentifierType.EMAIL,
    CustomerIdentifierType.EXTERNAL_ID,
)


def _identifier_values(fresh: list[tuple[int, Customer]]) -> dict[CustomerIdentifierType, list[str]]:
    """Each kind's values over the rows, in row order."""
    return {
        _MOBILE: [c.mobile for _, c in fresh if c.mobile is not None],
        _EMAIL: [c.email for _, c in fresh if c.email is not None],
        _EXTERNAL_ID: [c.external_id for _, c in fresh if c.external_id is not None],
    }


def _without_identifier_conflicts(
    fresh: list[tuple[int, Customer]],
    rejected: list[RejectedRow],
    taken: dict[tuple[CustomerIdentifierType, str], int],
    values: dict[CustomerIdentifierType, list[str]],
) -> list[tuple[int, Customer]]:
    """The rows whose identifiers belong to nobody yet; a row claiming one taken, or claimed by an
    earlier row, is rejected (the first of its identifiers in type order is named)."""
    claimed: dict[CustomerIdentifierType, dict[str, int]] = {kind: {} for kind in values}
    for (kind, value), owner in taken.items():
        claimed[kind][value] = owner
    # Usually no value is taken or repeated: one set per kind shows it, without a loop over rows.
    if all(
        len(set(of_kind)) == len(of_kind) and claimed[kind].keys().isdisjoint(of_kind)
        for kind, of_kind in values.items()
    ):
        return fresh
    mobiles, emails, external_ids = claimed[_MOBILE], claimed[_EMAIL], claimed[_EXTERNAL_ID]
    kept: list[tuple[int, Customer]] = []
    for index, customer in fresh:
        mobile, email, external_id = customer.mobile, customer.email, customer.external_id
        if mobile is not None and mobile in mobiles:
            clash = (_MOBILE, mobile)
        elif email is not None and email in emails:
            clash = (_EMAIL, email)
        elif external_id is not None and external_id in external_ids:
            clash = (_EXTERNAL_ID, external_id)
        else:
            if mobile is not None:
                mobiles[mobile] = customer.id
            if email is not None:
                emails[email] = customer.id
            if external_id is not None:
                external_ids[external_id] = customer.id
            kept.append((index, customer))
            continue
        kind, value = clash
        rejected.append(
            RejectedRow(
                index,
                InvalidRequest(
                    f"{kind.value.lower()} {value!r} already belongs to another customer",
                    field=kind.value.lower(),
                ),
            )
        )
    return kept


async def update_org_settings(
    uow_factory: UnitOfWorkFactory, principal: Principal, command: UpdateOrgSettings
) -> OrgSettings:
    if command.timezone is not None and not is_valid_timezone(command.timezone):
        raise InvalidRequest(f"unknown timezone {command.timezone!r}", field="timezone")
    if command.max_active_promotions is not None and command.max_active_promotions < 1:
        raise InvalidRequest("maxActivePromotions must be at least 1", field="maxActivePromotions")
    if command.web_engage_account_id is not None and len(command.web_engage_account_id) > 64:
        raise InvalidRequest("webEngageAccountId is at most 64 characters", field="webEngageAccountId")
    async with uow_factory(write=True) as uow:
        org = await caller_org(uow, principal.org_id)
        current = org.settings
        settings = OrgSettings(
            timezone=current.timezone if command.timezone is None else command.timezone,
            max_active_promotions=(
                current.max_active_promotions
                if command.max_active_promotions is None
                else command.max_active_promotions
            ),
            redemption_without_evaluation=(
                current.redemption_without_evaluation
                if command.redemption_without_evaluation is None
                else command.redemption_without_evaluation
            ),
            web_engage_account_id=(
                current.web_engage_account_id
                if command.web_engage_account_id is None
                else command.web_engage_account_id
            ),
        )
        if command.web_engage_account_id == "":
            settings = replace(settings, web_engage_account_id=None)
        await uow.orgs.save_settings(principal.org_id, settings)
        await uow.commit()
    return settings


async def get_org(uow_factory: UnitOfWorkFactory, org_id: int) -> Org:
    async with uow_factory() as uow:
        return await caller_org(uow, org_id)
