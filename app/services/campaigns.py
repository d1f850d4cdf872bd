"""Campaign runs: one promotion to a long list of customers, or a long list of customers imported,
in batches, each batch one call of the use case behind the mutation (`issue_promotion`,
`import_customers`), with their checks, chunked writes and ledger rows.

What a run decides, and only here:

- a batch refused with `ResourceLocked` (521: a wallet lock not won in time) is sent again after
  a pause, `LOCK_RETRY_DELAYS_S` (three retries, backing off); only then is it refused;
- a refusal about the promotion, the contextId or the org (`stops_the_run`) would refuse every
  later batch the same way, so the run stops there and the rest is counted as not sent; any other
  refusal is about that batch's customers, and the run goes on;
- what the caller named must exist before anything is sent: an unknown promotion or a malformed
  contextId is raised at once (the caller's bad input), not reported as a refused batch.

Both runs are idempotent (issuing per (promotion, contextId, customer); importing skips a customer
that exists identically), so a run that was interrupted is completed by running it again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import TypeVar

from app.domain import rules
from app.domain.commands import CreateCustomer, IssuePromotion
from app.domain.errors import (
    CustomerNotFound,
    DomainError,
    EarnedFromTypeChanged,
    EarnNotSupported,
    InvalidRequest,
    MaxActivePromotionsExceeded,
    PromotionExpired,
    PromotionNotFound,
    PromotionTypeNotSupported,
    ResourceLocked,
)
from app.domain.models import Principal
from app.domain.ports import UnitOfWorkFactory
from app.services.admin import import_customers
from app.services.issue import issue_promotion
from app.services.queries import get_promotion

T = TypeVar("T")
Sleep = Callable[[float], Awaitable[None]]

# Pauses before each retry of a batch refused with 521; a lock held past all of them is a refusal.
LOCK_RETRY_DELAYS_S: tuple[float, ...] = (0.5, 1.0, 2.0)


def _ignore(sent: int) -> None:
    return None


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    delays_s: Sequence[float] = LOCK_RETRY_DELAYS_S
    sleep: Sleep = asyncio.sleep

    async def run(self, call: Callable[[], Awaitable[T]]) -> T:
        """`call()`, again after each delay while it is refused with ResourceLocked."""
        for delay in self.delays_s:
            try:
                return await call()
            except ResourceLocked:
                await self.sleep(delay)
        return await call()


def stops_the_run(error: DomainError) -> bool:
    """Refusals about the promotion, the contextId or the org, not about one batch's customers:
    every later batch would be refused the same way."""
    if isinstance(error, InvalidRequest):
        return error.field in {"contextId", "org", "customerIds", "customers"}
    return isinstance(
        error,
        PromotionNotFound
        | PromotionExpired
        | PromotionTypeNotSupported
        | EarnNotSupported
        | EarnedFromTypeChanged
        | MaxActivePromotionsExceeded,
    )


@dataclass
class Refusal:
    code: int
    reason: str
    customers: int
    missing: list[int] = field(default_factory=list)


@dataclass
class IssueSummary:
    issued: int = 0
    already_issued: int = 0
    refusals: list[Refusal] = field(default_factory=list)
    not_sent: int = 0
    stopped_by: str | None = None

    @property
    def refused(self) -> int:
        return sum(refusal.customers for refusal in self.refusals)


def _batches(items: Sequence[T], size: int) -> list[list[T]]:
    if size < 1:
        raise InvalidRequest("a batch holds at least one customer", field="batchSize")
    return [list(items[start : start + size]) for start in range(0, len(items), size)]


async def issue_in_batches(
    uow_factory: UnitOfWorkFactory,
    principal: Principal,
    *,
    promotion_id: str,
    context_id: str,
    customer_ids: Sequence[int],
    batch_size: int,
    max_batch: int,
    skip_missing: bool = False,
    on_batch: Callable[[int], None] = _ignore,
    retry: RetryPolicy = RetryPolicy(),
) -> IssueSummary:
    """Issue `promotion_id` to `customer_ids`, `batch_size` at a time; `on_batch(n)` after each
    batch of n customers is settled. A batch naming unknown customers is refused as a whole
    (issuing is atomic per call); with `skip_missing` the rest of that batch is sent again alone."""
    rules.check_identifier(context_id, "contextId")
    if await get_promotion(uow_factory, principal, promotion_id) is None:
        raise PromotionNotFound(f"Promotion {promotion_id} not found")
    batches = _batches(customer_ids, batch_size)
    summary = IssueSummary()

    async def send(batch: list[int]) -> None:
        command = IssuePromotion(promotion_id=promotion_id, context_id=context_id, customer_ids=batch)
        result = await retry.run(
            partial(
                issue_promotion, uow_factory, principal, command, max_batch=max_batch, include_entries=False
            )
        )
        summary.issued += result.issued_count
        summary.already_issued += result.already_issued_count

    for position, batch in enumerate(batches):
        try:
            await send(batch)
        except CustomerNotFound as error:
            unknown = set(error.customer_ids)
            missing = [customer_id for customer_id in batch if customer_id in unknown]
            rest = [customer_id for customer_id in batch if customer_id not in unknown]
            refused = len(missing) if skip_missing else len(batch)
            summary.refusals.append(Refusal(int(error.code), error.message, refused, missing))
            if skip_missing and rest:
                try:
                    await send(rest)
                except DomainError as again:
                    summary.refusals.append(Refusal(int(again.code), again.message, len(rest)))
        except DomainError as error:
            summary.refusals.append(Refusal(int(error.code), error.message, len(batch)))
            if stops_the_run(error):
                summary.not_sent = sum(len(later) for later in batches[position + 1 :])
                summary.stopped_by = error.message
                on_batch(len(batch))
                break
        on_batch(len(batch))
    return summary


@dataclass(frozen=True, slots=True)
class RejectedCustomer:
    position: int  # in the run's list of customers, from 0
    error: DomainError


@dataclass
class ImportSummary:
    created: int = 0
    skipped: int = 0  # already there with the same identifiers (or repeated identically)
    rejected: list[RejectedCustomer] = field(default_factory=list)  # one row each, the rest went in
    refusals: list[Refusal] = field(default_factory=list)  # whole batches refused, nothing of them written
    not_sent: int = 0
    stopped_by: str | None = None

    @property
    def refused(self) -> int:
        return sum(refusal.customers for refusal in self.refusals)


async def import_in_batches(
    uow_factory: UnitOfWorkFactory,
    principal: Principal,
    customers: Sequence[CreateCustomer],
    *,
    batch_size: int,
    max_batch: int,
    on_batch: Callable[[int], None] = _ignore,
    retry: RetryPolicy = RetryPolicy(),
) -> ImportSummary:
    """Import `customers`, `batch_size` at a time (each batch one `import_customers` call, which
    rejects bad rows one by one and writes the rest); `on_batch(n)` after each batch of n."""
    if batch_size > max_batch:
        raise InvalidRequest(f"at most {max_batch} customers per call", field="batchSize")
    batches = _batches(customers, batch_size)
    summary = ImportSummary()
    for position, batch in enumerate(batches):
        offset = position * batch_size
        try:
            result = await retry.run(
                partial(import_customers, uow_factory, principal, batch, max_batch=max_batch)
            )
        except DomainError as error:
            summary.refusals.append(Refusal(int(error.code), error.message, len(batch)))
            if stops_the_run(error):
                summary.not_sent = sum(len(later) for later in batches[position + 1 :])
                summary.stopped_by = error.message
                on_batch(len(batch))
                break
        else:
            summary.created += result.created_count
            summary.skipped += result.skipped_count
            summary.rejected.extend(
                RejectedCustomer(offset + row.index, row.error) for row in result.rejected
            )
        on_batch(len(batch))
    return summary
