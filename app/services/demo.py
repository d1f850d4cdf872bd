"""Demo data: an org, two clients, a promotion of each type and customers whose wallets show
every status. Seeding is idempotent: a second run only reports the credentials again."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, replace
from decimal import Decimal

from app.auth.secrets import hash_secret
from app.domain import rules
from app.domain.clock import DAY_MS, now_ms
from app.domain.commands import RedeemPromotions
from app.domain.errors import AlreadyExists
from app.domain.ids import new_object_id
from app.domain.models import (
    Customer,
    EarnedFromType,
    EarnedPromotion,
    EventDetails,
    LedgerEntry,
    LedgerKind,
    Org,
    OrgSettings,
    Principal,
    Promotion,
    PromotionType,
    RedemptionLine,
    Scope,
)
from app.domain.ports import UnitOfWorkFactory
from app.services.redeem import redeem_promotions

DEMO_ORG_ID = 100737
DEMO_TIMEZONE = "Asia/Kolkata"
DEMO_ADMIN = ("demo-admin", "demo-admin-secret")
DEMO_READER = ("demo-reader", "demo-reader-secret")
# Fixed ids, so that the README's examples run as pasted against `serve --demo` (a test runs them).
DEMO_PROMOTION_IDS = {
    "pos": "67e3c0f13919452f135e2d9e",
    "code": "67e3c0f13919452f135e2d9f",
    "customer": "67e3c1073919452f135e2da0",
    "earning": "6912ced9d39e256f754a83f8",
    "reward": "67f3832ab206f929966adf81",
}
DEMO_CUSTOMERS = (
    Customer(org_id=DEMO_ORG_ID, id=566881933, mobile="1234512345", email="asha@example.com"),
    Customer(org_id=DEMO_ORG_ID, id=5668819330, mobile="9876543210", external_id="CRM-5668819330"),
    Customer(org_id=DEMO_ORG_ID, id=564332013, email="ravi@example.com"),
)


@dataclass(frozen=True)
class DemoInfo:
    org_id: int
    admin: tuple[str, str]
    reader: tuple[str, str]
    customer_ids: tuple[int, ...]
    seeded: bool


def _promotion(
    key: str, name: str, type_: PromotionType, start: int, end: int, now: int, **extra: int | None
) -> Promotion:
    return Promotion(
        org_id=DEMO_ORG_ID,
        id=DEMO_PROMOTION_IDS[key],
        name=name,
        type=type_,
        start_date=start,
        end_date=end,
        active=True,
        redemption_window_days=extra.get("window"),
        max_redemptions_per_earn=extra.get("max_redemptions") or 1,
        max_earns_per_customer=extra.get("max_earns"),
        created_at=now,
    )


async def seed_demo(uow_factory: UnitOfWorkFactory) -> DemoInfo:
    """Everything in one transaction, decided inside it: a failed or concurrent run never leaves
    an org without its clients (which a later run would then report as seeded)."""
    async with uow_factory() as uow:
        exists = await uow.orgs.get(DEMO_ORG_ID) is not None
    info = DemoInfo(DEMO_ORG_ID, DEMO_ADMIN, DEMO_READER, tuple(c.id for c in DEMO_CUSTOMERS), seeded=False)
    if exists:
        return info
    admin_hash, reader_hash = await asyncio.gather(
        asyncio.to_thread(hash_secret, DEMO_ADMIN[1]), asyncio.to_thread(hash_secret, DEMO_READER[1])
    )

    now = now_ms()
    year = 365 * DAY_MS
    promotions = {
        "pos": _promotion("pos", "Till discount 10%", PromotionType.POS, now - DAY_MS, now + year, now),
        "code": _promotion("code", "Code SAVE50", PromotionType.CODE, now - DAY_MS, now + year, now),
        "customer": _promotion(
            "customer",
            "Welcome 200 off",
            PromotionType.CUSTOMER,
            now - DAY_MS,
            now + year,
            now,
            max_redemptions=2,
        ),
        "earning": _promotion(
            "earning",
            "Spend 5000, get 500",
            PromotionType.EARNING,
            now - DAY_MS,
            now + year,
            now,
            window=30,
            max_earns=5,
        ),
        "reward": _promotion(
            "reward", "Festive reward", PromotionType.REWARD, now + 7 * DAY_MS, now + year, now
        ),
    }
    org = Org(id=DEMO_ORG_ID, name="Demo Retail", settings=OrgSettings(timezone=DEMO_TIMEZONE))

    def entry(
        customer: Customer,
        promotion: Promotion,
        source: str,
        *,
        event_time: int = now,
        used: int = 0,
        revoked: bool = False,
        valid_till: int | None = None,
    ) -> EarnedPromotion:
        return EarnedPromotion(
            org_id=DEMO_ORG_ID,
            id=new_object_id(now),
            customer_id=customer.id,
            promotion_id=promotion.id,
            earned_from_type=EarnedFromType.BULK_ISSUE,
            earned_from_id=source,
            instance=1,
            event_time=event_time,
            event_details=EventDetails(id=source, type=EarnedFromType.BULK_ISSUE.value),
            valid_till=valid_till
            if valid_till is not None
            else rules.valid_till(promotion=promotion, event_time=event_time, timezone=DEMO_TIMEZONE),
            unlocks_at=promotion.start_date,
            redemptions_allowed=promotion.max_redemptions_per_earn,
            redemptions_used=used,
            revoked_at=now if revoked else None,
            created_at=now,
        )

    asha, big, ravi = DEMO_CUSTOMERS
    entries = [
        entry(asha, promotions["customer"], "demo-welcome"),  # UNLOCKED
        entry(asha, promotions["earning"], "demo-spend-1"),  # UNLOCKED
        entry(asha, promotions["reward"], "demo-festive"),  # LOCKED
        entry(asha, promotions["earning"], "demo-spend-0"),  # REDEEMED by the demo transaction below
        entry(
            asha,
            promotions["earning"],
            "demo-spend-old",
            event_time=now - 60 * DAY_MS,
            valid_till=now - 30 * DAY_MS,
        ),  # EXPIRED
        entry(asha, promotions["customer"], "demo-goodwill", revoked=True),  # REVOKED
        entry(big, promotions["customer"], "demo-welcome"),
        entry(big, promotions["reward"], "demo-festive"),
        entry(ravi, promotions["customer"], "demo-welcome"),
    ]
    try:
        seeded = await _seed(uow_factory, info, org, promotions, entries, admin_hash, reader_hash, now)
    except AlreadyExists:  # PostgreSQL: another run inserted the org first and committed
        return info
    if seeded.seeded:
        await _redeem_demo_entry(uow_factory, entries[3], now)
    return seeded


async def _redeem_demo_entry(uow_factory: UnitOfWorkFactory, entry: EarnedPromotion, now: int) -> None:
    """A real checkout through the redeem service, so the REDEEMED entry has its redemption,
    consumption and ledger row like any other (the invariant checker holds on demo data too)."""
    line = RedemptionLine(
        promotion_id=entry.promotion_id,
        redemption_count=1,
        discount=Decimal(500),
        discount_applied_on_quantity=Decimal(1),
        promotion_applied_on_quantity=Decimal(1),
        sku="SKU-GROCERY-BASKET",
        earned_promotion_id=entry.id,
    )
    await redeem_promotions(
        uow_factory,
        Principal(org_id=DEMO_ORG_ID, client_id=0, username="demo", scopes=frozenset({Scope.WALLET_WRITE})),
        RedeemPromotions(
            transaction_identifier="demo-txn-0001",
            transaction_number="DEMO-0001",
            transaction_date=now,
            amount=Decimal(5200),
            customer_id=entry.customer_id,
            line_items=[line],
        ),
    )


async def _seed(
    uow_factory: UnitOfWorkFactory,
    info: DemoInfo,
    org: Org,
    promotions: dict[str, Promotion],
    entries: list[EarnedPromotion],
    admin_hash: str,
    reader_hash: str,
    now: int,
) -> DemoInfo:
    async with uow_factory(write=True) as uow:
        if await uow.orgs.get(DEMO_ORG_ID) is not None:  # seeded meanwhile by another run
            return info
        await uow.orgs.add(org, created_at=now)
        for (username, _), secret_hash, name, scopes in (
            (DEMO_ADMIN, admin_hash, "Demo admin", ["admin", "wallet:read", "wallet:write"]),
            (DEMO_READER, reader_hash, "Demo reader", ["wallet:read"]),
        ):
            await uow.clients.add(
                org_id=DEMO_ORG_ID,
                name=name,
                username=username,
                secret_hash=secret_hash,
                scopes=scopes,
                created_at=now,
            )
        for promotion in promotions.values():
            await uow.promotions.add(promotion)
        await uow.customers.add_many(list(DEMO_CUSTOMERS), created_at=now)
        await uow.earnings.insert_new(entries)
        ledger = [
            LedgerEntry(
                org_id=DEMO_ORG_ID,
                customer_id=e.customer_id,
                promotion_id=e.promotion_id,
                earned_promotion_id=e.id,
                kind=LedgerKind.ISSUED,
                quantity=e.redemptions_allowed,
                actor="demo",
                source=e.earned_from_id,
                created_at=now,
            )
            for e in entries
        ]
        ledger += [
            LedgerEntry(
                org_id=DEMO_ORG_ID,
                customer_id=e.customer_id,
                promotion_id=e.promotion_id,
                earned_promotion_id=e.id,
                kind=LedgerKind.REVOKED if e.revoked_at else LedgerKind.REDEEMED,
                quantity=-(e.redemptions_allowed if e.revoked_at else e.redemptions_used),
                actor="demo",
                source=e.earned_from_id,
                created_at=now,
            )
            for e in entries
            if e.redemptions_used or e.revoked_at
        ]
        await uow.ledger.append(ledger)
        await uow.commit()
    return replace(info, seeded=True)
