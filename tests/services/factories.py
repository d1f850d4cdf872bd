"""Small factories that put orgs, promotions, customers and wallet entries straight into the fake
store (tests/fakes.py), with defaults that make a valid, current, earnable thing."""

from __future__ import annotations

from collections.abc import Awaitable, Sequence
from dataclasses import replace
from decimal import Decimal
from typing import Any

import pytest

from app.domain.clock import DAY_MS
from app.domain.errors import DomainError
from app.domain.ids import new_object_id
from app.domain.models import (
    Customer,
    EarnedFromType,
    EarnedPromotion,
    EventDetails,
    Org,
    OrgSettings,
    Principal,
    Promotion,
    PromotionType,
    RedemptionLine,
    Scope,
)
from tests.fakes import FakeStore, FakeUnitOfWorkFactory

ORG_ID = 100737
OTHER_ORG_ID = 200001
MISSING_ORG_ID = 999_999  # never put into the store


def principal_of(org_id: int = ORG_ID) -> Principal:
    return Principal(org_id=org_id, client_id=1, username="tester", scopes=frozenset(Scope))


def line(
    promotion_id: str,
    count: int = 1,
    *,
    discount: str = "10",
    earned_promotion_id: str | None = None,
    sku: str | None = None,
    applied: str = "1",
    eligible: str = "1",
) -> RedemptionLine:
    return RedemptionLine(
        promotion_id=promotion_id,
        redemption_count=count,
        discount=Decimal(discount),
        discount_applied_on_quantity=Decimal(applied),
        promotion_applied_on_quantity=Decimal(eligible),
        sku=sku,
        earned_promotion_id=earned_promotion_id,
    )


class Given:
    """`given.promotion(...)`, `given.customers(...)`, ...: rows in the store, no unit of work."""

    def __init__(self, store: FakeStore, now: int) -> None:
        self.store = store
        self.now = now

    def org(self, org_id: int = ORG_ID, **settings: Any) -> Org:
        org = Org(id=org_id, name=f"org {org_id}", settings=OrgSettings(**settings))
        return self.store.put_org(org)

    def settings(self, org_id: int = ORG_ID, **settings: Any) -> Org:
        """Change an existing org's settings."""
        org = self.store.tables.orgs[org_id]
        return self.store.replace_org(replace(org, settings=replace(org.settings, **settings)))

    def promotion(
        self,
        type_: PromotionType = PromotionType.EARNING,
        *,
        org_id: int = ORG_ID,
        starts_in_days: float = -10,
        ends_in_days: float = 30,
        active: bool = True,
        redemption_window_days: int | None = None,
        max_redemptions_per_earn: int = 1,
        max_earns_per_customer: int | None = None,
    ) -> Promotion:
        promotion = Promotion(
            org_id=org_id,
            id=new_object_id(self.now),
            name="Ten off",
            type=type_,
            start_date=self.now + int(starts_in_days * DAY_MS),
            end_date=self.now + int(ends_in_days * DAY_MS),
            active=active,
            redemption_window_days=redemption_window_days,
            max_redemptions_per_earn=max_redemptions_per_earn,
            max_earns_per_customer=max_earns_per_customer,
            created_at=self.now,
        )
        return self.store.put_promotion(promotion)

    def customers(self, *ids: int, org_id: int = ORG_ID) -> list[Customer]:
        return self.store.put_customers(Customer(org_id=org_id, id=cid) for cid in ids)

    def customer(
        self,
        customer_id: int,
        *,
        org_id: int = ORG_ID,
        mobile: str | None = None,
        email: str | None = None,
        external_id: str | None = None,
    ) -> Customer:
        customer = Customer(
            org_id=org_id, id=customer_id, mobile=mobile, email=email, external_id=external_id
        )
        return self.store.put_customers([customer])[0]

    def entry(
        self,
        promotion: Promotion,
        customer_id: int,
        *,
        earned_from_type: EarnedFromType = EarnedFromType.ACTIVITY,
        earned_from_id: str = "order-1",
        instance: int = 1,
        expires_in_days: float = 20,
        unlocks_in_days: float = -1,
        redemptions_allowed: int | None = None,
        redemptions_used: int = 0,
        revoked: bool = False,
    ) -> EarnedPromotion:
        entry = EarnedPromotion(
            org_id=promotion.org_id,
            id=new_object_id(self.now),
            customer_id=customer_id,
            promotion_id=promotion.id,
            earned_from_type=earned_from_type,
            earned_from_id=earned_from_id,
            instance=instance,
            event_time=self.now - DAY_MS,
            event_details=EventDetails(id=earned_from_id, type=earned_from_type.value),
            valid_till=self.now + int(expires_in_days * DAY_MS),
            unlocks_at=self.now + int(unlocks_in_days * DAY_MS),
            redemptions_allowed=(
                promotion.max_redemptions_per_earn if redemptions_allowed is None else redemptions_allowed
            ),
            redemptions_used=redemptions_used,
            revoked_at=self.now - 1000 if revoked else None,
            created_at=self.now,
        )
        return self.store.put_entries([entry])[0]

    def entries(
        self, promotion: Promotion, customer_ids: Sequence[int], **fields: Any
    ) -> list[EarnedPromotion]:
        return [self.entry(promotion, cid, **fields) for cid in customer_ids]


async def refusal_of(
    uow_factory: FakeUnitOfWorkFactory, store: FakeStore, action: Awaitable[object]
) -> DomainError:
    """The error that `action` (a use case's call) raises; it must have written and committed nothing."""
    before = store.state()
    committed = len(uow_factory.committed)
    with pytest.raises(DomainError) as raised:
        await action
    assert store.state() == before
    assert len(uow_factory.committed) == committed
    return raised.value
