"""The rules of the wallet, in one place: validity, statuses, and who may earn what.

Issue and earn share `check_promotion_earnable`, `check_earned_from_type` and `earn_allowance`;
redeem builds on `earned_status`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from zoneinfo import ZoneInfo

from app.domain.clock import DAY_MS, MAX_INSTANT_MS, end_of_local_day_ms
from app.domain.errors import (
    EarnedFromTypeChanged,
    EarnNotSupported,
    InvalidCustomerIdentifier,
    InvalidRequest,
    MaxActivePromotionsExceeded,
    PromotionExpired,
    PromotionTypeNotSupported,
)
from app.domain.ids import is_valid_customer_id
from app.domain.models import (
    EarnedFromType,
    EarnedPromotion,
    EarnedPromotionStatus,
    Promotion,
    PromotionStatus,
    PromotionType,
)

MAX_IDENTIFIER_LENGTH = 250
MAX_PROMOTION_NAME_LENGTH = 50


def valid_till(*, promotion: Promotion, event_time: int, timezone: str) -> int:
    """Last millisecond, in the org's timezone, of min(endDate, eventTime + window days)."""
    last_instant = promotion.end_date
    if promotion.redemption_window_days is not None:
        last_instant = min(last_instant, event_time + promotion.redemption_window_days * DAY_MS)
    return end_of_local_day_ms(last_instant, ZoneInfo(timezone))


def promotion_status(promotion: Promotion, now: int) -> PromotionStatus:
    if not promotion.active:
        return PromotionStatus.INACTIVE
    if now > promotion.end_date:
        return PromotionStatus.EXPIRED
    if now < promotion.start_date:
        return PromotionStatus.UPCOMING
    return PromotionStatus.ACTIVE


def counts_toward_active_cap(promotion: Promotion, now: int) -> bool:
    """ "Active" for the org cap: switched on and not past its end date (upcoming ones count)."""
    return promotion.active and now <= promotion.end_date


def earned_status(entry: EarnedPromotion, now: int) -> EarnedPromotionStatus:
    if entry.revoked_at is not None:
        return EarnedPromotionStatus.REVOKED
    if entry.redemptions_used >= entry.redemptions_allowed:
        return EarnedPromotionStatus.REDEEMED
    if now > entry.valid_till:
        return EarnedPromotionStatus.EXPIRED
    if now < entry.unlocks_at:
        return EarnedPromotionStatus.LOCKED
    return EarnedPromotionStatus.UNLOCKED


def check_promotion_earnable(promotion: Promotion, now: int) -> None:
    """707 → 714 → 706, the order of DESIGN §6."""
    if promotion.type is PromotionType.POS:
        raise PromotionTypeNotSupported(
            f"Promotion {promotion.id} is of type POS, which cannot be held in a wallet"
        )
    if promotion.type is PromotionType.CODE:
        raise EarnNotSupported(f"Promotion {promotion.id} is of type CODE, which cannot be earned")
    if not promotion.active or now > promotion.end_date:
        raise PromotionExpired(f"Promotion {promotion.id} has expired or is inactive")


def check_active_cap(*, active_count: int, limit: int) -> None:
    if active_count > limit:
        raise MaxActivePromotionsExceeded(
            f"The org has {active_count} active promotions, more than its limit of {limit}", limit=limit
        )


def check_earned_from_type(
    *, existing_types: Sequence[EarnedFromType], requested: EarnedFromType, earned_from_id: str
) -> None:
    if any(existing is not requested for existing in existing_types):
        raise EarnedFromTypeChanged(
            f"Earnings with earnedFromId {earned_from_id!r} exist with another earnedFromType"
        )


def earn_allowance(*, max_earns: int | None, already_earned: int, requested: int) -> int:
    """How many of `requested` new earnings still fit under the per-customer limit."""
    if max_earns is None:
        return requested
    return max(0, min(requested, max_earns - already_earned))


def check_identifier(value: str, field: str, limit: int = MAX_IDENTIFIER_LENGTH) -> None:
    """Every client-chosen identifier (contextId, earnedFromId, transactionIdentifier, ...): 1 to
    `limit` characters and not only whitespace, whichever field and face it comes through."""
    if not value.strip() or len(value) > limit:
        raise InvalidRequest(f"{field} must be 1 to {limit} characters, not blank", field=field)


def check_customer_ids(customer_ids: Sequence[object]) -> list[int]:
    """1006 unless the list is non-empty and every entry a positive 64-bit integer."""
    if not customer_ids:
        raise InvalidCustomerIdentifier("customerIds must not be empty")
    bad = [index for index, value in enumerate(customer_ids) if not is_valid_customer_id(value)]
    if bad:
        raise InvalidCustomerIdentifier(
            f"customerIds has null or non-positive entries at indexes {bad[:20]}", indexes=bad
        )
    return [int(value) for value in customer_ids]  # type: ignore[call-overload]


def check_customer_id(value: object, field: str = "customerId") -> int:
    if not is_valid_customer_id(value):
        raise InvalidCustomerIdentifier(f"{field} must be a positive 64-bit integer", indexes=[0])
    return int(value)  # type: ignore[call-overload]


def check_promotion_definition(
    *,
    name: str,
    start_date: int,
    end_date: int,
    redemption_window_days: int | None,
    max_redemptions_per_earn: int,
    max_earns_per_customer: int | None,
) -> None:
    if not name.strip() or len(name) > MAX_PROMOTION_NAME_LENGTH:
        raise InvalidRequest(f"name must be 1 to {MAX_PROMOTION_NAME_LENGTH} characters", field="name")
    if not 0 <= start_date <= MAX_INSTANT_MS:
        raise InvalidRequest("startDate must be epoch milliseconds before the year 10000", field="startDate")
    if end_date < start_date:
        raise InvalidRequest("endDate must not be before startDate", field="endDate")
    if end_date > MAX_INSTANT_MS:
        raise InvalidRequest("endDate must be epoch milliseconds before the year 10000", field="endDate")
    if redemption_window_days is not None and redemption_window_days < 1:
        raise InvalidRequest("redemptionWindowDays must be at least 1", field="redemptionWindowDays")
    if max_redemptions_per_earn < 1:
        raise InvalidRequest("maxRedemptionsPerEarn must be at least 1", field="maxRedemptionsPerEarn")
    if max_earns_per_customer is not None and max_earns_per_customer < 1:
        raise InvalidRequest("maxEarnsPerCustomer must be at least 1", field="maxEarnsPerCustomer")


# A client's username: what it types before the colon of HTTP Basic credentials, so never a colon
# (Basic splits at the first one), no spaces, and short enough for the column (64).
_USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")


def check_client_username(username: str) -> None:
    if not _USERNAME.fullmatch(username):
        raise InvalidRequest(
            "username must be 1 to 64 letters, digits or . _ @ -, starting with a letter or digit",
            field="username",
        )


_MOBILE = re.compile(r"^\+?[0-9]{5,20}$")
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")
# A WebEngage license code: optionally "~", then 8 to 12 lowercase letters or digits
# (e.g. "~2024c5d1", "aa131c9a"). Anything else stored for an org is refused at redemption (406).
_WEB_ENGAGE_ACCOUNT = re.compile(r"^~?[0-9a-z]{8,12}$")


def check_customer_identifiers(*, mobile: str | None, email: str | None, external_id: str | None) -> None:
    if mobile is not None and not _MOBILE.match(mobile):
        raise InvalidRequest("mobile must be 5 to 20 digits, optionally after a +", field="mobile")
    if email is not None and (len(email) > MAX_IDENTIFIER_LENGTH or not _EMAIL.match(email)):
        raise InvalidRequest("email is not a valid address", field="email")
    if external_id is not None:
        check_identifier(external_id, "externalId")


def is_valid_web_engage_account_id(value: str) -> bool:
    return bool(_WEB_ENGAGE_ACCOUNT.match(value))
