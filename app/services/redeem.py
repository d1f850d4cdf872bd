"""redeemPromotions: record a purchase's redemptions, exactly once, under the wallet lock.

Everything happens in one write transaction: on SQLite the unit of work begins with
BEGIN IMMEDIATE (the database write lock, waited for up to the lock timeout); on PostgreSQL the customer
row is locked FOR UPDATE under `lock_timeout` before any wallet entry is read. So the checks
and the writes see one unchanging wallet, and a lock not won in time is a 521.
"""

from __future__ import annotations

from app.domain import redemption as rules
from app.domain.clock import now_ms
from app.domain.commands import RedeemPromotions
from app.domain.errors import (
    AlreadyExists,
    CustomerNotFound,
    DomainError,
    InvalidWebEngageAccount,
    PromotionNotFound,
    RedemptionWithoutEvaluationDisabled,
    ResourceLocked,
)
from app.domain.holds import transaction_held
from app.domain.ids import new_object_id
from app.domain.models import Consumption, Customer, LedgerEntry, LedgerKind, Org, Principal, Redemption
from app.domain.ports import UnitOfWork, UnitOfWorkFactory
from app.domain.rules import is_valid_web_engage_account_id
from app.services.org_lookup import caller_org


async def redeem_promotions(
    uow_factory: UnitOfWorkFactory, principal: Principal, command: RedeemPromotions
) -> Redemption:
    """Checks in DESIGN order: 400 shape → 404 customer → 405 → 406 → replay of the same
    transactionIdentifier (same content: the recorded redemption; other content: 400) → 404
    promotions → wallet coverage (404 earned promotion / 400 not redeemable); 521 on lock timeout."""
    command = rules.validate_redeem(command)
    digest: str | None = None  # of this request's content, once its customer is known
    try:
        async with uow_factory(write=True) as uow:
            customer = await locked_customer(uow, principal.org_id, command)  # and its wallet lock
            rules.check_customer_agrees(command, customer)
            check_org(await caller_org(uow, principal.org_id))
            digest = rules.content_hash(command, customer.id)
            # A replay is not looked up first: a new transactionIdentifier, the usual case, would
            # pay a query for nothing. A replay either fails as a new redemption (its entries are
            # used up: a domain error, then looked up here) or reaches the redemption INSERT,
            # which the unique (org, transactionIdentifier) stops (AlreadyExists, below). Either
            # way the answer is the one the DESIGN order gives: the replay before the promotions.
            try:
                redemption = await _record(uow, principal, command, customer, digest)
            except DomainError:
                recorded = await uow.redemptions.get_by_transaction(
                    principal.org_id, command.transaction_identifier
                )
                if recorded is None:
                    # No promotion found answers no hold either: the hold's 400 comes first.
                    live = await uow.holds.live_by_transaction(
                        principal.org_id, command.transaction_identifier, now=now_ms()
                    )
                    if live is not None:
                        raise transaction_held(command.transaction_identifier) from None
                    raise
                rules.check_replay(recorded.content_hash, digest, command.transaction_identifier)
                return recorded
            await uow.commit()
            return redemption
    except AlreadyExists:
        # This transactionIdentifier is already recorded, by an earlier request or a concurrent
        # one that committed first: the unique constraint stopped ours and the transaction rolled
        # back, so nothing of ours was written. Answer as a replay.
        async with uow_factory() as uow:
            recorded = await uow.redemptions.get_by_transaction(
                principal.org_id, command.transaction_identifier
            )
        if recorded is None or digest is None:
            raise
        rules.check_replay(recorded.content_hash, digest, command.transaction_identifier)
        return recorded


async def locked_customer(uow: UnitOfWork, org_id: int, command: RedeemPromotions) -> Customer:
    """The command's customer (404), its wallet locked until the unit of work ends."""
    if command.customer_id is not None:
        customer = await uow.customers.get(org_id, command.customer_id, lock_wallet=True)
        missing = f"Customer {command.customer_id} not found"
    else:
        assert command.identifier_type is not None and command.identifier_value is not None
        customer = await uow.customers.get_by_identifier(
            org_id, command.identifier_type, command.identifier_value, lock_wallet=True
        )
        missing = f"No customer with {command.identifier_type.value} {command.identifier_value!r}"
    if customer is None:
        raise CustomerNotFound(missing, customer_ids=[command.customer_id] if command.customer_id else [])
    return customer


def check_org(org: Org) -> None:
    """405, then 406."""
    if not org.settings.redemption_without_evaluation:
        raise RedemptionWithoutEvaluationDisabled(
            "This org is not enabled for redemption without cart evaluation"
        )
    account = org.settings.web_engage_account_id
    if account is not None and not is_valid_web_engage_account_id(account):
        raise InvalidWebEngageAccount(
            "The org's webEngageAccountId is not valid (expected an optional '~' then 8 to 12 "
            "lowercase letters or digits); update it in the org settings"
        )


async def checked_plan(
    uow: UnitOfWork,
    org_id: int,
    command: RedeemPromotions,
    customer: Customer,
    *,
    now: int,
    refuse_held_transaction: bool,
) -> list[Consumption]:
    """404 promotions → wallet coverage (404 earned promotion / 400 not redeemable), net of what
    live holds reserve; with `refuse_held_transaction`, first a 400 if a live hold holds the
    command's transactionIdentifier (read in the same statement as the entries)."""
    promotion_ids = rules.requested_promotion_ids(command)
    promotions, found, held = await uow.wallet.promotions_with_entries(
        org_id,
        customer.id,
        promotion_ids,
        now=now,
        transaction_identifier=command.transaction_identifier if refuse_held_transaction else None,
    )
    if held:
        raise transaction_held(command.transaction_identifier)
    missing = [promotion_id for promotion_id in promotion_ids if promotion_id not in promotions]
    if missing:
        raise PromotionNotFound(f"Promotion {missing[0]} not found")
    entries = [entry for entry in found if promotions[entry.promotion_id].type.held_in_wallet]
    return rules.plan_coverage(command, promotions=promotions, entries=entries, now=now)


async def _record(
    uow: UnitOfWork, principal: Principal, command: RedeemPromotions, customer: Customer, digest: str
) -> Redemption:
    now = now_ms()
    plan = await checked_plan(uow, principal.org_id, command, customer, now=now, refuse_held_transaction=True)
    for consumption in plan:
        changed = await uow.wallet.consume(
            principal.org_id, customer.id, consumption.earned_promotion_id, consumption.count, now=now
        )
        if changed != 1:
            # Only reachable if something changed the entry without the wallet lock; the
            # transaction rolls back and a retry sees the truth.
            raise ResourceLocked("The wallet changed while redeeming; retry", retry_after_ms=100)
    redemption = Redemption(
        org_id=principal.org_id,
        id=new_object_id(now),
        customer_id=customer.id,
        customer_identifier_type=command.identifier_type,
        customer_identifier_value=command.identifier_value,
        transaction_identifier=command.transaction_identifier,
        transaction_number=command.transaction_number,
        transaction_date=command.transaction_date,
        amount=command.amount,
        line_items=list(command.line_items or ()),
        redemptions=list(command.redemptions or ()),
        consumed=plan,
        content_hash=digest,
        created_at=now,
    )
    await uow.redemptions.add(redemption)
    await uow.ledger.append(
        [
            LedgerEntry(
                org_id=principal.org_id,
                customer_id=customer.id,
                promotion_id=c.promotion_id,
                earned_promotion_id=c.earned_promotion_id,
                kind=LedgerKind.REDEEMED,
                quantity=-c.count,
                actor=principal.username,
                source=command.transaction_identifier,
                created_at=now,
            )
            for c in plan
        ]
    )
    return redemption
