"""What callers ask the services to do, already parsed from GraphQL or REST."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from decimal import Decimal

from app.domain.models import (
    CustomerIdentifierType,
    EarnedFromType,
    EventDetails,
    PromotionType,
    RedemptionLine,
    ReversalLine,
)


@dataclass(frozen=True, slots=True)
class CreatePromotion:
    name: str
    type: PromotionType
    start_date: int
    end_date: int
    active: bool = True
    redemption_window_days: int | None = None
    max_redemptions_per_earn: int = 1
    max_earns_per_customer: int | None = None

    @classmethod
    def with_defaults(
        cls,
        *,
        name: str,
        type: PromotionType,
        start_date: int,
        end_date: int,
        active: bool | None = None,
        redemption_window_days: int | None = None,
        max_redemptions_per_earn: int | None = None,
        max_earns_per_customer: int | None = None,
    ) -> CreatePromotion:
        """The command as a face receives it: None for `active` or `max_redemptions_per_earn` (left
        out, or an explicit null) means the default declared above, the only place it is written."""
        command = cls(
            name=name,
            type=type,
            start_date=start_date,
            end_date=end_date,
            redemption_window_days=redemption_window_days,
            max_earns_per_customer=max_earns_per_customer,
        )
        if active is not None:
            command = replace(command, active=active)
        if max_redemptions_per_earn is not None:
            command = replace(command, max_redemptions_per_earn=max_redemptions_per_earn)
        return command


@dataclass(frozen=True, slots=True)
class CreateCustomer:
    id: object  # validated by the service: a positive 64-bit integer
    mobile: str | None = None
    email: str | None = None
    external_id: str | None = None


@dataclass(frozen=True, slots=True)
class UpdateOrgSettings:
    timezone: str | None = None
    max_active_promotions: int | None = None
    redemption_without_evaluation: bool | None = None
    web_engage_account_id: str | None = None


@dataclass(frozen=True, slots=True)
class CustomerLookup:
    """A customer named by id, or by an identifier type and value."""

    customer_id: int | None = None
    identifier_type: CustomerIdentifierType | None = None
    identifier_value: str | None = None


@dataclass(frozen=True, slots=True)
class IssuePromotion:
    promotion_id: str
    context_id: str
    customer_ids: Sequence[object]  # as received: nulls and bad values are refused with 1006


@dataclass(frozen=True, slots=True)
class EarnEntryRequest:
    promotion_id: str
    earn_count: int
    earned_from_id: str


@dataclass(frozen=True, slots=True)
class EarnPromotions:
    """The earnPromotions input, parsed but not yet validated."""

    customer_id: object  # validated here: a positive 64-bit integer (else 1006)
    event_time: int
    earned_from_type: EarnedFromType
    event_details: EventDetails
    entries: Sequence[EarnEntryRequest]
    org_id: int | None = None


@dataclass(frozen=True, slots=True)
class RedeemPromotions:
    """The redeem request body, parsed but not yet validated."""

    transaction_identifier: str
    transaction_number: str
    transaction_date: int
    amount: Decimal
    customer_id: int | None = None
    identifier_type: CustomerIdentifierType | None = None
    identifier_value: str | None = None
    line_items: Sequence[RedemptionLine] | None = None
    redemptions: Sequence[RedemptionLine] | None = None


@dataclass(frozen=True, slots=True)
class RevokeEarnedPromotions:
    customer_id: int
    earned_promotion_ids: Sequence[str]


@dataclass(frozen=True, slots=True)
class ReverseRedemption:
    """The reverseRedemption input, parsed but not yet validated. Exactly one of redemption_id and
    transaction_identifier names the redemption; no lines means everything not yet reversed."""

    reversal_identifier: str
    redemption_id: str | None = None
    transaction_identifier: str | None = None
    reason: str | None = None
    lines: Sequence[ReversalLine] | None = None


@dataclass(frozen=True, slots=True)
class HoldPromotions:
    """holdPromotions: a redemption's content, reserved (not consumed) for `hold_seconds`."""

    redemption: RedeemPromotions
    hold_seconds: int = 900
