"""revokeEarnedPromotions: take unredeemed entries out of a customer's wallet.

It runs under the same wallet lock as redeem (one write transaction; PostgreSQL: the customer
row FOR UPDATE), so a revoke and a redemption of one entry are strictly ordered: either the
entry is redeemed and the revoke is refused, or it is revoked and the redemption is refused.
"""

from __future__ import annotations

from dataclasses import dataclass

from app.domain import redemption as rules
from app.domain.clock import now_ms
from app.domain.commands import RevokeEarnedPromotions
from app.domain.errors import CustomerNotFound, DomainError, ResourceLocked
from app.domain.models import LedgerEntry, LedgerKind, Principal
from app.domain.ports import UnitOfWorkFactory
from app.services.org_lookup import caller_org

REVOKE_SOURCE = "revoke"


@dataclass(frozen=True, slots=True)
class RevokeResult:
    earned_promotion_id: str
    revoked: bool  # the entry is revoked after this call (newly, or already before it)
    error: DomainError | None


@dataclass(frozen=True, slots=True)
class RevokeOutcome:
    revoked_count: int  # entries this call revoked (each has a REVOKED ledger row)
    results: list[RevokeResult]


async def revoke_earned_promotions(
    uow_factory: UnitOfWorkFactory, principal: Principal, command: RevokeEarnedPromotions
) -> RevokeOutcome:
    ids = rules.validate_revoke(command)
    async with uow_factory(write=True) as uow:
        await caller_org(uow, principal.org_id)
        if not await uow.customers.lock_wallet(principal.org_id, command.customer_id):
            raise CustomerNotFound(
                f"Customer {command.customer_id} not found", customer_ids=[command.customer_id]
            )
        now = now_ms()
        found = await uow.wallet.get_many(principal.org_id, ids, now=now)  # held counts refuse
        decisions = rules.decide_revocations(ids, customer_id=command.customer_id, found=found)
        to_revoke = [d.earned_promotion_id for d in decisions if d.revoke]
        if to_revoke:
            changed = await uow.wallet.revoke(principal.org_id, command.customer_id, to_revoke, now=now)
            if changed != len(to_revoke):
                # Only reachable if an entry changed without the wallet lock; retrying is safe.
                raise ResourceLocked("The wallet changed while revoking; retry", retry_after_ms=100)
            await uow.ledger.append(
                [
                    LedgerEntry(
                        org_id=principal.org_id,
                        customer_id=command.customer_id,
                        promotion_id=found[entry_id].promotion_id,
                        earned_promotion_id=entry_id,
                        kind=LedgerKind.REVOKED,
                        quantity=-found[entry_id].redemptions_left,
                        actor=principal.username,
                        source=REVOKE_SOURCE,
                        created_at=now,
                    )
                    for entry_id in to_revoke
                ]
            )
        await uow.commit()
    return RevokeOutcome(
        revoked_count=len(to_revoke),
        results=[
            RevokeResult(
                earned_promotion_id=d.earned_promotion_id,
                revoked=d.revoke or d.already_revoked,
                error=d.error,
            )
            for d in decisions
        ],
    )
