"""holdPromotions, commitHold, releaseHold and hold(id) (DESIGN §8.2): two-phase redemption.

Every write is one transaction under the customer's wallet lock, like redeem and reverse, so a
hold, a commit, a release and a redemption of the same wallet are decided one after the other,
each on the committed truth. Held counts are never written onto the entries: they are the
allocations of holds stored HELD whose `expires_at` is still ahead, so a hold expires by the clock
alone and no job is needed. A commit or release first re-reads its hold under the lock and settles
it with a guarded UPDATE (stored HELD and not expired at `now`), so of two racing settlements, or
a settlement racing the expiry, exactly one outcome is recorded.

Ledger. Its quantity is the change in allowed - used, which holds do not move: HELD and RELEASED
rows are markers of quantity 0 (the held counts are the hold's allocations, named by the row's
source, the hold id), and a commit writes its REDEEMED -n rows like a redemption. A nonzero HELD
row could not stay true: a hold expires by the clock with no write, so nothing would ever give
it back, and the checker's "ledger sum per entry = allowed - used" holds at every instant this way.
persistence/hold_invariants.py checks the markers against the holds and their allocations.
"""

from __future__ import annotations

from dataclasses import replace

from app.domain import holds as hold_rules
from app.domain import redemption as rules
from app.domain.clock import now_ms
from app.domain.commands import HoldPromotions
from app.domain.errors import AlreadyExists, HoldExpired, HoldNotFound, ResourceLocked
from app.domain.ids import new_object_id
from app.domain.models import Hold, HoldStatus, LedgerEntry, LedgerKind, Principal, Redemption
from app.domain.ports import UnitOfWork, UnitOfWorkFactory
from app.services.org_lookup import caller_org
from app.services.redeem import check_org, checked_plan, locked_customer


async def hold_promotions(
    uow_factory: UnitOfWorkFactory, principal: Principal, command: HoldPromotions, *, now: int | None = None
) -> Hold:
    """Checks in the order of redeemPromotions: 400 shape (then holdSeconds) → 404 customer → 405 →
    406 → the transactionIdentifier (recorded as a redemption: 400; held by a live hold: the same
    content is that hold, other content a 400) → 404 promotions → wallet coverage net of live holds
    (404 earned promotion / 400 not redeemable, reason HELD when only held counts are left); 521
    on lock timeout."""
    redemption = rules.validate_redeem(command.redemption)
    hold_seconds = hold_rules.validate_hold_seconds(command.hold_seconds)
    async with uow_factory(write=True) as uow:
        customer = await locked_customer(uow, principal.org_id, redemption)
        rules.check_customer_agrees(redemption, customer)
        check_org(await caller_org(uow, principal.org_id))
        digest = rules.content_hash(redemption, customer.id)
        at = now if now is not None else now_ms()
        if await uow.redemptions.get_by_transaction(principal.org_id, redemption.transaction_identifier):
            raise hold_rules.transaction_recorded(redemption.transaction_identifier)
        live = await uow.holds.live_by_transaction(
            principal.org_id, redemption.transaction_identifier, now=at
        )
        if live is not None:
            hold_rules.check_hold_replay(live, digest)
            return live
        plan = await checked_plan(
            uow, principal.org_id, redemption, customer, now=at, refuse_held_transaction=False
        )
        hold = Hold(
            org_id=principal.org_id,
            id=new_object_id(at),
            customer_id=customer.id,
            customer_identifier_type=redemption.identifier_type,
            customer_identifier_value=redemption.identifier_value,
            transaction_identifier=redemption.transaction_identifier,
            transaction_number=redemption.transaction_number,
            transaction_date=redemption.transaction_date,
            amount=redemption.amount,
            status=HoldStatus.HELD,
            expires_at=at + hold_seconds * 1000,
            content_hash=digest,
            actor=principal.username,
            created_at=at,
            line_items=list(redemption.line_items or ()),
            redemptions=list(redemption.redemptions or ()),
            allocations=plan,
        )
        await uow.holds.add(hold)
        await uow.ledger.append(_ledger(hold, LedgerKind.HELD, principal, at))
        await uow.commit()
        return hold


async def commit_hold(
    uow_factory: UnitOfWorkFactory, principal: Principal, hold_id: str, *, now: int | None = None
) -> Redemption:
    """404 hold → COMMITTED: its redemption (again, for a repeat) → released or expired: 400
    HoldExpired → the redemption, consuming exactly the held allocations; 521 on lock timeout."""
    try:
        async with uow_factory(write=True) as uow:
            hold = await _locked_hold(uow, principal.org_id, hold_id)
            if hold.status is HoldStatus.COMMITTED:
                return await _redemption_of(uow, hold)
            at = now if now is not None else now_ms()  # after the lock: the expiry is decided on it
            hold_rules.check_committable(hold, at)
            redemption = Redemption(
                org_id=hold.org_id,
                id=new_object_id(at),
                customer_id=hold.customer_id,
                customer_identifier_type=hold.customer_identifier_type,
                customer_identifier_value=hold.customer_identifier_value,
                transaction_identifier=hold.transaction_identifier,
                transaction_number=hold.transaction_number,
                transaction_date=hold.transaction_date,
                amount=hold.amount,
                line_items=list(hold.line_items),
                redemptions=list(hold.redemptions),
                consumed=list(hold.allocations),
                # The hold's content: resending the transaction as a plain redemption is a replay.
                content_hash=hold.content_hash,
                created_at=at,
            )
            await uow.redemptions.add(redemption)
            settled = await uow.holds.settle(
                hold.id, HoldStatus.COMMITTED, now=at, redemption_id=redemption.id
            )
            if settled != 1:
                raise _changed()
            for allocation in hold.allocations:
                # The hold is no longer live, so its own counts are not subtracted from what is left.
                changed = await uow.wallet.consume(
                    hold.org_id,
                    hold.customer_id,
                    allocation.earned_promotion_id,
                    allocation.count,
                    now=at,
                    of_hold=True,
                )
                if changed != 1:
                    raise _changed()
            await uow.ledger.append(
                [
                    *_ledger(hold, LedgerKind.RELEASED, principal, at),
                    *_ledger(hold, LedgerKind.REDEEMED, principal, at),
                ]
            )
            await uow.commit()
            return redemption
    except AlreadyExists:
        # Another customer's redemption recorded this transactionIdentifier meanwhile (a hold
        # reserves it under its own customer's lock only): this hold cannot become that redemption.
        raise HoldExpired(
            f"Hold {hold_id} cannot be committed: its transactionIdentifier was recorded by another "
            "redemption"
        ) from None


async def release_hold(
    uow_factory: UnitOfWorkFactory, principal: Principal, hold_id: str, *, now: int | None = None
) -> Hold:
    """404 hold → a live hold is RELEASED (its counts free at once); a committed, released or
    expired one is returned unchanged; 521 on lock timeout."""
    async with uow_factory(write=True) as uow:
        hold = await _locked_hold(uow, principal.org_id, hold_id)
        at = now if now is not None else now_ms()
        if not hold_rules.is_live(hold, at):
            return await _answered(uow, hold)
        if await uow.holds.settle(hold.id, HoldStatus.RELEASED, now=at) != 1:
            raise _changed()
        await uow.ledger.append(_ledger(hold, LedgerKind.RELEASED, principal, at))
        await uow.commit()
        return replace(hold, status=HoldStatus.RELEASED, settled_at=at)


async def get_hold(uow_factory: UnitOfWorkFactory, principal: Principal, hold_id: str) -> Hold | None:
    """The org's hold with its redemption once committed; None when unknown or another org's."""
    async with uow_factory() as uow:
        hold = await uow.holds.get(principal.org_id, hold_id)
        return await _answered(uow, hold) if hold is not None else None


async def _locked_hold(uow: UnitOfWork, org_id: int, hold_id: str) -> Hold:
    hold = await uow.holds.get(org_id, hold_id)
    if hold is None:
        raise HoldNotFound(f"Hold {hold_id} not found")
    await uow.customers.lock_wallet(org_id, hold.customer_id)
    # Read again under the lock: a commit or release that held it before us is now settled.
    settled = await uow.holds.get(org_id, hold_id)
    assert settled is not None  # holds are never deleted while their wallet is locked
    return settled


async def _redemption_of(uow: UnitOfWork, hold: Hold) -> Redemption:
    assert hold.redemption_id is not None  # stored with COMMITTED
    redemption = await uow.redemptions.get(hold.org_id, hold.redemption_id)
    assert redemption is not None  # a redemption is never deleted
    return redemption


async def _answered(uow: UnitOfWork, hold: Hold) -> Hold:
    if hold.redemption_id is None:
        return hold
    return replace(hold, redemption=await _redemption_of(uow, hold))


def _changed() -> ResourceLocked:
    # Only reachable if something changed the hold or its entries without the wallet lock; the
    # transaction rolls back and a retry sees the truth.
    return ResourceLocked("The wallet changed while settling the hold; retry", retry_after_ms=100)


def _ledger(hold: Hold, kind: LedgerKind, principal: Principal, at: int) -> list[LedgerEntry]:
    # REDEEMED rows name the transaction, as redeem writes them; HELD and RELEASED rows the hold
    # (a transactionIdentifier may be held again once a hold of it is released or expired).
    source = hold.transaction_identifier if kind is LedgerKind.REDEEMED else hold.id
    return [
        LedgerEntry(
            org_id=hold.org_id,
            customer_id=hold.customer_id,
            promotion_id=a.promotion_id,
            earned_promotion_id=a.earned_promotion_id,
            kind=kind,
            quantity=-a.count if kind is LedgerKind.REDEEMED else 0,
            actor=principal.username,
            source=source,
            created_at=at,
        )
        for a in hold.allocations
    ]
