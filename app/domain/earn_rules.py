"""earnPromotions (DESIGN §6 "Earn"): the request-level checks and the per-entry decision.

Plain Python, no I/O: the service loads what these functions need in a few grouped queries and
calls them once per request (`check_request`) and once per entry (`plan_entry`). The promotion
checks themselves (707 → 714 → 706, 705, 713, the earn limit) are the shared ones of `rules`,
so issuePromotion and earnPromotions cannot drift apart.

Decisions (also in the README):
- `orgId`, when given, must be the caller's org, else 400 (field `orgId`). It is a 400, not a
  404, because the caller named the org itself; the message never says whether that org exists.
- At most `MAX_EARN_ENTRIES` entries and at most `MAX_EARN_INSTANCES` instances (the sum of
  earnCount; PROMO_WALLET_MAX_BATCH when that is lower) per request (400, field
  `earnedPromotions`). The whole request is one write transaction, and building and inserting a
  row costs about half a millisecond on SQLite, so a 100,000-instance request would hold the
  write lock for most of a minute; 1,000 keeps it well under a second.
- The same (promotionId, earnedFromId) twice in one request is a 400: it names one earning, so
  two different earnCounts for it would contradict each other.
- A replay (the same earning key again) counts the instances 1..earnCount that already exist as
  successful and returns them; only missing instances are created, so the total never exceeds
  earnCount. Existing instances are returned whatever their status now (revoked included): a
  replay reports what the earning is, it does not earn again.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field

from app.domain import rules
from app.domain.commands import EarnEntryRequest, EarnPromotions
from app.domain.errors import DomainError, EarnLimitExceeded, InvalidRequest, PromotionNotFound
from app.domain.models import EarnedFromType, EarnedPromotion, Promotion

# Entries per request. Each entry costs two bound parameters in the grouped lookups, so this
# keeps every statement far below the drivers' parameter limits (32766 / 32767).
MAX_EARN_ENTRIES = 1000
# Instances (wallet entries) per request: see the module docstring.
MAX_EARN_INSTANCES = 1000
# 9999-12-30T00:00:00Z, the bound promotion dates get too: the end of its day in any timezone
# (validTill) and its ISO form still fit in a Python datetime, so a huge Long is a 400, not a 500.
MAX_EVENT_TIME = 253_402_128_000_000


@dataclass(frozen=True, slots=True)
class EarningKey:
    promotion_id: str
    earned_from_id: str


@dataclass(frozen=True, slots=True)
class EntryPlan:
    """What to do for one entry: which existing instances count as earned, which instance
    numbers to create now, and why the rest (if any) fail."""

    existing: list[EarnedPromotion] = field(default_factory=list)
    create_instances: list[int] = field(default_factory=list)
    failed_count: int = 0
    error: DomainError | None = None


@dataclass(frozen=True, slots=True)
class EarnOutcome:
    """The result of one entry, in request order."""

    promotion_id: str
    earned_from_id: str
    successful_count: int
    failed_count: int
    error: DomainError | None
    entries: list[EarnedPromotion]


def check_request(command: EarnPromotions, *, caller_org_id: int, max_instances: int) -> int:
    """Every check that refuses the whole request before the database is read: 400 shape →
    1006 customerId → eventDetails.type = earnedFromType (400) → orgId (400). Returns the
    customer id."""
    if not 0 <= command.event_time <= MAX_EVENT_TIME:
        raise InvalidRequest("eventTime must be epoch milliseconds, not negative", field="eventTime")
    rules.check_identifier(command.event_details.id, "eventDetails.id")
    if not command.event_details.type:
        raise InvalidRequest("eventDetails.type is required", field="eventDetails.type")
    _check_entries(command.entries, max_instances=max_instances)
    customer_id = rules.check_customer_id(command.customer_id)
    if command.event_details.type != command.earned_from_type.value:
        raise InvalidRequest(
            f"eventDetails.type must equal earnedFromType ({command.earned_from_type.value})",
            field="eventDetails.type",
        )
    if command.org_id is not None and command.org_id != caller_org_id:
        raise InvalidRequest("orgId must be the org of the calling client, or omitted", field="orgId")
    return customer_id


def _check_entries(entries: Sequence[EarnEntryRequest], *, max_instances: int) -> None:
    if not entries:
        raise InvalidRequest("earnedPromotions must have at least one entry", field="earnedPromotions")
    if len(entries) > MAX_EARN_ENTRIES:
        raise InvalidRequest(
            f"earnedPromotions may have at most {MAX_EARN_ENTRIES} entries", field="earnedPromotions"
        )
    seen: set[EarningKey] = set()
    for index, entry in enumerate(entries):
        prefix = f"earnedPromotions[{index}]"
        rules.check_identifier(entry.promotion_id, f"{prefix}.promotionId")
        rules.check_identifier(entry.earned_from_id, f"{prefix}.earnedFromId")
        if entry.earn_count < 1:
            raise InvalidRequest("earnCount must be at least 1", field=f"{prefix}.earnCount")
        key = EarningKey(entry.promotion_id, entry.earned_from_id)
        if key in seen:
            raise InvalidRequest(
                f"promotionId {entry.promotion_id!r} with earnedFromId {entry.earned_from_id!r} "
                "appears more than once",
                field=f"{prefix}.earnedFromId",
            )
        seen.add(key)
    # Checked after the per-entry ranges so that the sum is of positive counts only.
    limit = min(max_instances, MAX_EARN_INSTANCES)
    if sum(entry.earn_count for entry in entries) > limit:
        raise InvalidRequest(
            f"at most {limit} instances (the sum of earnCount) per request", field="earnedPromotions"
        )


def plan_entry(
    *,
    entry: EarnEntryRequest,
    promotion: Promotion | None,
    earned_from_type: EarnedFromType,
    existing: Sequence[EarnedPromotion],
    known_types: Collection[EarnedFromType],
    active_count: int,
    max_active_promotions: int,
    already_earned: int,
    now: int,
) -> EntryPlan:
    """Decide one entry: 404 → replay → 707 → 714 → 706 → 705 → 713 → earn limit.

    `existing` are this customer's entries with this earning key; `known_types` are the
    earnedFromTypes already used with this (promotion, earnedFromId) anywhere in the org (the
    scope issuePromotion uses for 713); `already_earned` counts the customer's unrevoked entries
    of the promotion, including the ones planned for earlier entries of this request."""
    requested = entry.earn_count
    if promotion is None:
        return _failed(requested, PromotionNotFound(f"Promotion {entry.promotion_id} not found"))
    wanted = [x for x in existing if x.instance <= requested]
    same_type = all(x.earned_from_type is earned_from_type for x in wanted)
    # A replay reports the instances that exist; checks only guard creating new ones, so a
    # replay of a completed earning stays a success after the promotion has since ended.
    kept = sorted(wanted, key=lambda x: x.instance) if same_type else []
    have = {x.instance for x in kept}
    missing = [instance for instance in range(1, requested + 1) if instance not in have]
    if not missing:
        return EntryPlan(existing=kept)
    try:
        rules.check_promotion_earnable(promotion, now)
        rules.check_active_cap(active_count=active_count, limit=max_active_promotions)
        rules.check_earned_from_type(
            existing_types=list(known_types),
            requested=earned_from_type,
            earned_from_id=entry.earned_from_id,
        )
    except DomainError as refusal:
        return EntryPlan(existing=kept, failed_count=len(missing), error=refusal)
    allowance = rules.earn_allowance(
        max_earns=promotion.max_earns_per_customer, already_earned=already_earned, requested=len(missing)
    )
    refused = len(missing) - allowance
    error: DomainError | None = None
    if refused:
        error = EarnLimitExceeded(
            f"Promotion {promotion.id} may be earned at most {promotion.max_earns_per_customer} times "
            f"per customer; {refused} of {requested} could not be earned"
        )
    return EntryPlan(existing=kept, create_instances=missing[:allowance], failed_count=refused, error=error)


def _failed(count: int, error: DomainError) -> EntryPlan:
    return EntryPlan(failed_count=count, error=error)
