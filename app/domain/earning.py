"""Creating wallet entries: the one place that decides what a new earned promotion looks like.
Shared by issuePromotion (many customers, one promotion) and earnPromotions (one customer)."""

from __future__ import annotations

from app.domain import rules
from app.domain.models import EarnedFromType, EarnedPromotion, EventDetails, Promotion


def new_earned_promotion(
    *,
    entry_id: str,
    promotion: Promotion,
    customer_id: int,
    earned_from_type: EarnedFromType,
    earned_from_id: str,
    instance: int,
    event_time: int,
    event_details: EventDetails | None,
    timezone: str,
    now: int,
) -> EarnedPromotion:
    return EarnedPromotion(
        org_id=promotion.org_id,
        id=entry_id,
        customer_id=customer_id,
        promotion_id=promotion.id,
        earned_from_type=earned_from_type,
        earned_from_id=earned_from_id,
        instance=instance,
        event_time=event_time,
        event_details=event_details,
        valid_till=rules.valid_till(promotion=promotion, event_time=event_time, timezone=timezone),
        unlocks_at=promotion.start_date,
        redemptions_allowed=promotion.max_redemptions_per_earn,
        redemptions_used=0,
        revoked_at=None,
        created_at=now,
    )
