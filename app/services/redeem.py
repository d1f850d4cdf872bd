"""redeemPromotions: record a purchase's redemptions, exactly once, under the wallet lock.

Everything happens in one write transaction: on SQLite the unit of work begins with
BEGIN IMMEDIATE (the database write lock, waited for up to the lock timeout); on PostgreSQL the customer
row is locked FOR UPDATE under `lock_timeout` before any wallet entry is read. So the checks
and the writes see one unchanging wallet, and a lock not won in time is a 521.
"""

from __future__ import annotations

from functools import partial

from app.domain import redemption as rules
from app.domain.checks import UNRECORDED, Checks
from app.domain.clock import now_ms
from app.domain.commands import RedeemPromotions
from app.domain.errors import AlreadyExists, DomainError, ResourceLocked
from app.domain.holds import transaction_held
from app.domain.ids import new_object_id
from app.domain.models import Consumption, Customer, LedgerEntry, LedgerKind, Org, Principal, Redemption
from app.domain.ports import UnitOfWork, UnitOfWorkFactory
from app.domain.redemption import Check
from app.services.org_lookup import caller_org


async def redeem_promotions(
    uow_factory: UnitOfWorkFactory, principal: Principal, command: RedeemPromotions
) -> Redemption:
    """Checks in DESIGN order: 400 shape → 404 customer → 405 → 406 → replay of the same
    transactionIdentifier (same content: the recorded redemption; other content: 400) → 404
    promotions → wallet coverage (404 earned promotion / 400 not redeemable); 521 on lock timeout.
    The checks are those of `domain.redemption.Check`, run bare here; explainRedemption runs the
    same ones through a recorder (services/explain.py)."""
    command = validated(command)
    digest: str | None = None  # of this request's content, once its customer is known
    try:
        async with uow_factory(write=True) as uow:
            customer, digest = await checked_customer(uow, principal.org_id, command, lock=True)
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
                # No promotion found answers no hold either: the hold's 400 comes first.
                live = (
                    await uow.holds.live_by_transaction(
                        principal.org_id, command.transaction_identifier, now=now_ms()
                    )
                    if recorded is None
                    else None
                )
                replay = rules.check_transaction(
                    command.transaction_identifier,
                    digest,
                    recorded_hash=recorded.content_hash if recorded else None,
                    held=live is not None,
                )
                if not replay:
                    raise
                assert recorded is not None
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


def validated(command: RedeemPromotions, checks: Checks = UNRECORDED) -> RedeemPromotions:
    """Check.REQUEST: every 400 of the shape; the command with canonical values."""
    return checks.run(Check.REQUEST, partial(rules.validate_redeem, command), rules.request_detail)


async def find_customer(
    uow: UnitOfWork, org_id: int, command: RedeemPromotions, *, lock: bool
) -> Customer | None:
    if command.customer_id is not None:
        return await uow.customers.get(org_id, command.customer_id, lock_wallet=lock)
    assert command.identifier_type is not None and command.identifier_value is not None
    return await uow.customers.get_by_identifier(
        org_id, command.identifier_type, command.identifier_value, lock_wallet=lock
    )


async def locked_customer(uow: UnitOfWork, org_id: int, command: RedeemPromotions) -> Customer:
    """The command's customer (404), its wallet locked until the unit of work ends."""
    return rules.check_customer_found(command, await find_customer(uow, org_id, command, lock=True))


async def checked_customer(
    uow: UnitOfWork, org_id: int, command: RedeemPromotions, checks: Checks = UNRECORDED, *, lock: bool
) -> tuple[Customer, str]:
    """Check.CUSTOMER (404; with `lock`, its wallet locked until the unit of work ends) →
    Check.CUSTOMER_IDENTIFIER (400) → the org's (405, 406). The customer and the request's
    content hash."""
    found = await find_customer(uow, org_id, command, lock=lock)
    customer = checks.run(
        Check.CUSTOMER,
        partial(rules.check_customer_found, command, found),
        partial(rules.customer_detail, command),
    )
    checks.run(
        Check.CUSTOMER_IDENTIFIER,
        partial(rules.check_customer_agrees, command, customer),
        lambda _: rules.identifier_detail(command),
    )
    check_org(await caller_org(uow, org_id), checks)
    return customer, rules.content_hash(command, customer.id)


def check_org(org: Org, checks: Checks = UNRECORDED) -> None:
    """405, then 406."""
    checks.run(
        Check.REDEMPTION_WITHOUT_EVALUATION,
        partial(rules.check_redemption_without_evaluation, org.settings),
        lambda _: "the org allows redemption without cart evaluation",
    )
    checks.run(
        Check.WEB_ENGAGE_ACCOUNT,
        partial(rules.check_web_engage_account, org.settings),
        lambda _: rules.web_engage_detail(org.settings),
    )


async def checked_plan(
    uow: UnitOfWork,
    org_id: int,
    command: RedeemPromotions,
    customer: Customer,
    *,
    now: int,
    refuse_held_transaction: bool,
    checks: Checks = UNRECORDED,
) -> list[Consumption]:
    """Check.PROMOTIONS (404) → Check.COVERAGE per promotion (404 earned promotion / 400 not
    redeemable), net of what live holds reserve; with `refuse_held_transaction`, first a 400 if a
    live hold holds the command's transactionIdentifier (read in the same statement as the
    entries)."""
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
    checks.run(
        Check.PROMOTIONS,
        partial(rules.check_promotions_found, promotion_ids, promotions),
        lambda _: rules.promotions_detail(promotions),
    )
    entries = [entry for entry in found if promotions[entry.promotion_id].type.held_in_wallet]
    return rules.plan_coverage(command, promotions=promotions, entries=entries, now=now, checks=checks)


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
    await uow.redemptions.add(
        redemption,
        ledger=[
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
        ],
    )
    return redemption
