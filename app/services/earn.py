"""earnPromotions: earn several promotions for one customer, each entry with its own outcome.

One write unit of work for the whole request, and a fixed number of statements whatever the
number of entries: org, customer (locked), promotions, active count, 713 types, existing
entries and earn counts are each one grouped query; the new entries and their ledger rows are
one multi-row INSERT each (one more per 1500 instances created).
"""

from __future__ import annotations

from dataclasses import dataclass

from app.domain import earn_rules
from app.domain.clock import now_ms
from app.domain.commands import EarnPromotions
from app.domain.earn_rules import EarningKey, EarnOutcome, EntryPlan
from app.domain.earning import new_earned_promotion
from app.domain.errors import CustomerNotFound
from app.domain.ids import new_object_ids
from app.domain.models import EarnedPromotion, LedgerEntry, LedgerKind, Principal
from app.domain.ports import UnitOfWork, UnitOfWorkFactory
from app.services.org_lookup import caller_org


@dataclass(frozen=True, slots=True)
class EarnResult:
    outcomes: list[EarnOutcome]


async def earn_promotions(
    uow_factory: UnitOfWorkFactory,
    principal: Principal,
    command: EarnPromotions,
    *,
    max_instances: int,
    now: int | None = None,
) -> EarnResult:
    """Raises a DomainError when the whole request is refused (nothing written); otherwise
    commits what could be earned and returns one outcome per entry, in request order."""
    customer_id = earn_rules.check_request(
        command, caller_org_id=principal.org_id, max_instances=max_instances
    )
    now = now if now is not None else now_ms()
    keys = [EarningKey(x.promotion_id, x.earned_from_id) for x in command.entries]

    async with uow_factory(write=True) as uow:
        org = await caller_org(uow, principal.org_id)
        # Lock first: everything read below stays true until commit (PostgreSQL row lock;
        # SQLite already holds the write lock from BEGIN IMMEDIATE).
        if not await uow.customers.lock_wallet(principal.org_id, customer_id):
            raise CustomerNotFound(f"Customer {customer_id} not found", customer_ids=[customer_id])

        promotions = await uow.promotions.get_many(principal.org_id, [k.promotion_id for k in keys])
        active_count = await uow.promotions.count_active(principal.org_id, now=now) if promotions else 0
        known_types = await uow.earnings.earned_from_types(principal.org_id, keys) if promotions else {}
        existing = (
            await uow.earnings.entries_of_customer(principal.org_id, customer_id, keys) if promotions else {}
        )
        limited = [p.id for p in promotions.values() if p.max_earns_per_customer is not None]
        earned = await uow.earnings.earn_counts_of_customer(principal.org_id, customer_id, limited)

        plans: list[EntryPlan] = []
        for entry, key in zip(command.entries, keys, strict=True):
            plan = earn_rules.plan_entry(
                entry=entry,
                promotion=promotions.get(entry.promotion_id),
                earned_from_type=command.earned_from_type,
                existing=existing.get(key, []),
                known_types=known_types.get(key, set()),
                active_count=active_count,
                max_active_promotions=org.settings.max_active_promotions,
                already_earned=earned.get(entry.promotion_id, 0),
                now=now,
            )
            # Later entries of the same promotion share its earn limit with this one.
            earned[entry.promotion_id] = earned.get(entry.promotion_id, 0) + len(plan.create_instances)
            plans.append(plan)

        ids = iter(new_object_ids(sum(len(p.create_instances) for p in plans), now))
        created: list[list[EarnedPromotion]] = [
            [
                new_earned_promotion(
                    entry_id=next(ids),
                    promotion=promotions[entry.promotion_id],
                    customer_id=customer_id,
                    earned_from_type=command.earned_from_type,
                    earned_from_id=entry.earned_from_id,
                    instance=instance,
                    event_time=command.event_time,
                    event_details=command.event_details,
                    timezone=org.settings.timezone,
                    now=now,
                )
                for instance in plan.create_instances
            ]
            for entry, plan in zip(command.entries, plans, strict=True)
        ]
        fresh = [x for entries in created for x in entries]
        inserted = await uow.earnings.insert_new(fresh) if fresh else set()
        if len(inserted) < len(fresh):
            # Another transaction created some of these keys first. The customer lock makes this
            # unreachable today; if it ever happens, report the rows that exist, never a phantom.
            created = await _reconcile(uow, principal.org_id, customer_id, keys, created, inserted)
        await uow.ledger.append(
            [
                LedgerEntry(
                    org_id=principal.org_id,
                    customer_id=customer_id,
                    promotion_id=x.promotion_id,
                    earned_promotion_id=x.id,
                    kind=LedgerKind.EARNED,
                    quantity=x.redemptions_allowed,
                    actor=principal.username,
                    source=x.earned_from_id,
                    created_at=now,
                )
                for x in fresh
                if x.id in inserted
            ]
        )
        await uow.commit()

    return EarnResult(
        outcomes=[
            _outcome(entry.promotion_id, entry.earned_from_id, plan, made)
            for entry, plan, made in zip(command.entries, plans, created, strict=True)
        ]
    )


async def _reconcile(
    uow: UnitOfWork,
    org_id: int,
    customer_id: int,
    keys: list[EarningKey],
    created: list[list[EarnedPromotion]],
    inserted: set[str],
) -> list[list[EarnedPromotion]]:
    """Swap each planned entry that was not inserted for the row that holds its key now."""
    now_there = await uow.earnings.entries_of_customer(org_id, customer_id, keys)
    result: list[list[EarnedPromotion]] = []
    for key, planned in zip(keys, created, strict=True):
        by_instance = {x.instance: x for x in now_there.get(key, [])}
        result.append(
            [
                x if x.id in inserted else by_instance[x.instance]
                for x in planned
                if x.id in inserted or x.instance in by_instance
            ]
        )
    return result


def _outcome(
    promotion_id: str, earned_from_id: str, plan: EntryPlan, made: list[EarnedPromotion]
) -> EarnOutcome:
    entries = sorted([*plan.existing, *made], key=lambda x: x.instance)
    return EarnOutcome(
        promotion_id=promotion_id,
        earned_from_id=earned_from_id,
        successful_count=len(entries),
        failed_count=plan.failed_count,
        error=plan.error,
        entries=entries,
    )
