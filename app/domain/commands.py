"""What callers ask the services to do, already parsed from GraphQL or REST."""

from __future__ import annotations

from dataclasses import dataclass

from app.domain.models import CustomerIdentifierType, PromotionType


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
