"""reverseRedemption: give a redemption's counts back, exactly once, under the wallet lock.

One write transaction, like redeem: the redemption is found (404), the customer's wallet lock is
taken, and only then are its reversals read, so two reversals of one redemption (or a reversal and
a redemption of the same entries) are decided one after the other, each on the committed truth.
"""

from __future__ import annotations

from dataclasses import replace

from app.domain import reversal as rules
from app.domain.clock import now_ms
from app.domain.commands import ReverseRedemption
from app.domain.errors import AlreadyExists, RedemptionNotFound, ResourceLocked
from app.domain.ids import new_object_id
from app.domain.models import LedgerEntry, LedgerKind, Principal, Redemption, Reversal, ReversalOutcome
from app.domain.ports import UnitOfWork, UnitOfWorkFactory


async def reverse_redemption(
    uow_factory: UnitOfWorkFactory, principal: Principal, command: ReverseRedemption
) -> ReversalOutcome:
    """Checks in DESIGN §8.1 order: 400 shape → 404 redemption → replay of the same
    reversalIdentifier (same content: the recorded reversal; other content: 400) → 400 more than is
    left to reverse; 521 on lock timeout."""
    command = rules.validate_reverse(command)
    digest: str | None = None
    try:
        async with uow_factory(write=True) as uow:
            redemption = await _redemption(uow, principal.org_id, command)
            await uow.customers.lock_wallet(principal.org_id, redemption.customer_id)
            # Read under the lock: what earlier reversals gave back is now settled.
            redemption = replace(redemption, reversals=await uow.redemptions.reversals_of(redemption.id))
            digest = rules.content_hash(command, redemption.id)
            recorded = next(
                (x for x in redemption.reversals if x.reversal_identifier == command.reversal_identifier),
                None,
            )
            if recorded is not None:
                rules.check_replay(recorded.content_hash, digest, command.reversal_identifier)
                return ReversalOutcome(reversal=recorded, redemption=redemption)
            outcome = await _reverse(uow, principal, command, redemption, digest)
            await uow.commit()
            return outcome
    except AlreadyExists:
        # The reversalIdentifier is recorded on another redemption (or was, concurrently, on this
        # one's): nothing of ours was written. Answer as a replay: the same content or a 400.
        async with uow_factory() as uow:
            recorded = await uow.redemptions.get_reversal(principal.org_id, command.reversal_identifier)
            if recorded is None or digest is None:
                # Another reversal of this redemption took its number first: only possible for
                # a writer that skipped the wallet lock. Retrying decides on the new truth.
                raise ResourceLocked(
                    "The redemption changed while reversing; retry", retry_after_ms=100
                ) from None
            rules.check_replay(recorded.content_hash, digest, command.reversal_identifier)
            of = await uow.redemptions.get(principal.org_id, recorded.redemption_id)
        if of is None:  # pragma: no cover - a reversal's redemption is never deleted
            raise
        return ReversalOutcome(reversal=recorded, redemption=of)


async def _redemption(uow: UnitOfWork, org_id: int, command: ReverseRedemption) -> Redemption:
    if command.redemption_id is not None:
        found = await uow.redemptions.get(org_id, command.redemption_id)
        name = f"Redemption {command.redemption_id}"
    else:
        assert command.transaction_identifier is not None  # validate_reverse: exactly one
        found = await uow.redemptions.get_by_transaction(org_id, command.transaction_identifier)
        name = f"No redemption with transactionIdentifier {command.transaction_identifier!r}"
    if found is None:
        raise RedemptionNotFound(f"{name} not found" if command.redemption_id else name)
    return found


async def _reverse(
    uow: UnitOfWork, principal: Principal, command: ReverseRedemption, redemption: Redemption, digest: str
) -> ReversalOutcome:
    now = now_ms()
    entry_ids = [c.earned_promotion_id for c in redemption.consumed]
    entries = await uow.wallet.get_many(principal.org_id, entry_ids) if entry_ids else {}
    lines = rules.plan_reversal(redemption, command.lines, entries=entries, now=now)
    for line in lines:
        if line.earned_promotion_id is None:
            continue  # a POS or CODE promotion: recorded, no wallet effect
        changed = await uow.wallet.restore(
            principal.org_id, redemption.customer_id, line.earned_promotion_id, line.redemption_count
        )
        if changed != 1:
            # Only reachable if something changed the entry without the wallet lock; the
            # transaction rolls back and a retry sees the truth.
            raise ResourceLocked("The wallet changed while reversing; retry", retry_after_ms=100)
    reversal = Reversal(
        org_id=principal.org_id,
        id=new_object_id(now),
        reversal_identifier=command.reversal_identifier,
        redemption_id=redemption.id,
        number=len(redemption.reversals) + 1,
        reason=command.reason,
        lines=lines,
        content_hash=digest,
        actor=principal.username,
        created_at=now,
    )
    await uow.redemptions.add_reversal(reversal)
    await uow.ledger.append(
        [
            LedgerEntry(
                org_id=principal.org_id,
                customer_id=redemption.customer_id,
                promotion_id=line.promotion_id,
                earned_promotion_id=line.earned_promotion_id,
                kind=LedgerKind.REVERSED,
                quantity=line.redemption_count,
                actor=principal.username,
                source=command.reversal_identifier,
                created_at=now,
            )
            for line in lines
            if line.earned_promotion_id is not None
        ]
    )
    return ReversalOutcome(
        reversal=reversal, redemption=replace(redemption, reversals=[*redemption.reversals, reversal])
    )
