"""explainRedemption (DESIGN §8.5): "why can't this be redeemed?"

It runs the checks of redeemPromotions (services/redeem.py), the same functions in the same order,
through a `CheckRecorder` instead of bare: each check's outcome is written down, the first failure
is the error redeemPromotions would answer now, and a passing run gives the allocations it would
make. A read-only unit of work: nothing is written, no wallet lock is taken (the customer is read
without FOR UPDATE, and on SQLite a read takes no write lock), so an explanation never waits for,
or holds up, a checkout.

Unlike the redemption, it looks the transactionIdentifier up before the promotions (the DESIGN
order itself): the redemption defers that read to when it is needed, with the same answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

from app.domain import redemption as rules
from app.domain.checks import CheckOutcome, CheckRecorder, ChecksStopped
from app.domain.clock import now_ms
from app.domain.commands import RedeemPromotions
from app.domain.errors import DomainError
from app.domain.models import Consumption, Principal
from app.domain.ports import UnitOfWorkFactory
from app.domain.redemption import Check
from app.services.redeem import checked_customer, checked_plan, validated


@dataclass(frozen=True, slots=True)
class Explanation:
    checks: list[CheckOutcome]
    error: DomainError | None  # what redeemPromotions would answer now; None: it would succeed
    allocations: list[Consumption]  # what it would consume (none for a replay, or on an error)

    @property
    def would_succeed(self) -> bool:
        return self.error is None


async def explain_redemption(
    uow_factory: UnitOfWorkFactory, principal: Principal, command: RedeemPromotions, *, now: int | None = None
) -> Explanation:
    recorder = CheckRecorder()
    allocations: list[Consumption] = []
    at = now if now is not None else now_ms()
    try:
        command = validated(command, recorder)
        async with uow_factory() as uow:
            customer, digest = await checked_customer(uow, principal.org_id, command, recorder, lock=False)
            transaction = command.transaction_identifier
            recorded = await uow.redemptions.get_by_transaction(principal.org_id, transaction)
            live = (
                await uow.holds.live_by_transaction(principal.org_id, transaction, now=at)
                if recorded is None
                else None
            )
            replay = recorder.run(
                Check.TRANSACTION,
                partial(
                    rules.check_transaction,
                    transaction,
                    digest,
                    recorded_hash=recorded.content_hash if recorded else None,
                    held=live is not None,
                ),
                partial(rules.transaction_detail, transaction),
            )
            if not replay:
                plan = await checked_plan(
                    uow,
                    principal.org_id,
                    command,
                    customer,
                    now=at,
                    refuse_held_transaction=False,
                    checks=recorder,
                )
                allocations = plan if recorder.error is None else []
    except ChecksStopped:
        pass
    except DomainError as error:
        # Not a check's: the caller's org is gone (the 400 every use case answers), or a lookup
        # failed for a transient reason. The redemption would answer the same.
        recorder.failed("org" if getattr(error, "field", None) == "org" else "lookup", error)
    return Explanation(checks=recorder.outcomes, error=recorder.error, allocations=allocations)
