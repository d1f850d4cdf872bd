"""Entities and value objects of a promotion wallet. Plain Python: no framework imports."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import Generic, TypeVar

T = TypeVar("T")


class PromotionType(StrEnum):
    POS = "POS"
    CODE = "CODE"
    CUSTOMER = "CUSTOMER"
    EARNING = "EARNING"
    REWARD = "REWARD"

    @property
    def held_in_wallet(self) -> bool:
        """POS and CODE promotions apply at the till; the others live in a customer's wallet."""
        return self not in (PromotionType.POS, PromotionType.CODE)


class PromotionStatus(StrEnum):
    UPCOMING = "UPCOMING"
    ACTIVE = "ACTIVE"
    EXPIRED = "EXPIRED"
    INACTIVE = "INACTIVE"


class EarnedFromType(StrEnum):
    BULK_ISSUE = "BULK_ISSUE"
    ACTIVITY = "ACTIVITY"
    MILESTONE = "MILESTONE"
    REWARD = "REWARD"


class EarnedPromotionStatus(StrEnum):
    LOCKED = "LOCKED"
    UNLOCKED = "UNLOCKED"
    REDEEMED = "REDEEMED"
    EXPIRED = "EXPIRED"
    REVOKED = "REVOKED"


class CustomerIdentifierType(StrEnum):
    MOBILE = "MOBILE"
    EMAIL = "EMAIL"
    EXTERNAL_ID = "EXTERNAL_ID"


_MOBILE, _EMAIL, _EXTERNAL_ID = (
    CustomerIdentifierType.MOBILE,
    CustomerIdentifierType.EMAIL,
    CustomerIdentifierType.EXTERNAL_ID,
)


class Scope(StrEnum):
    WALLET_READ = "wallet:read"
    WALLET_WRITE = "wallet:write"
    ADMIN = "admin"


class LedgerKind(StrEnum):
    ISSUED = "ISSUED"
    EARNED = "EARNED"
    REDEEMED = "REDEEMED"
    REVOKED = "REVOKED"
    REVERSED = "REVERSED"
    HELD = "HELD"
    RELEASED = "RELEASED"


class HoldStatus(StrEnum):
    """HELD, COMMITTED and RELEASED are stored; EXPIRED is a stored HELD past its expiresAt
    (`domain.holds.hold_status`): expiry needs no write, so no job."""

    HELD = "HELD"
    COMMITTED = "COMMITTED"
    RELEASED = "RELEASED"
    EXPIRED = "EXPIRED"


class RedemptionStatus(StrEnum):
    ACTIVE = "ACTIVE"
    PARTIALLY_REVERSED = "PARTIALLY_REVERSED"
    REVERSED = "REVERSED"


@dataclass(frozen=True, slots=True)
class OrgSettings:
    timezone: str = "UTC"
    max_active_promotions: int = 250
    redemption_without_evaluation: bool = True
    web_engage_account_id: str | None = None


@dataclass(frozen=True, slots=True)
class Org:
    id: int
    name: str
    settings: OrgSettings


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: an API client of one org, with its scopes."""

    org_id: int
    client_id: int
    username: str
    scopes: frozenset[Scope]

    def has(self, scope: Scope) -> bool:
        return scope in self.scopes


@dataclass(frozen=True, slots=True)
class Customer:
    org_id: int
    id: int
    mobile: str | None = None
    email: str | None = None
    external_id: str | None = None

    def identifiers(self) -> dict[CustomerIdentifierType, str]:
        # Called for every row of an import (several times): no intermediate dict, and the enum's
        # members read once (`CustomerIdentifierType.MOBILE` is a descriptor call each time).
        found: dict[CustomerIdentifierType, str] = {}
        if self.mobile is not None:
            found[_MOBILE] = self.mobile
        if self.email is not None:
            found[_EMAIL] = self.email
        if self.external_id is not None:
            found[_EXTERNAL_ID] = self.external_id
        return found


@dataclass(frozen=True, slots=True)
class Promotion:
    org_id: int
    id: str
    name: str
    type: PromotionType
    start_date: int
    end_date: int
    active: bool
    redemption_window_days: int | None
    max_redemptions_per_earn: int
    max_earns_per_customer: int | None
    created_at: int = 0


@dataclass(frozen=True, slots=True)
class EventDetails:
    id: str
    type: str


@dataclass(frozen=True, slots=True)
class EarnedPromotion:
    org_id: int
    id: str
    customer_id: int
    promotion_id: str
    earned_from_type: EarnedFromType
    earned_from_id: str
    instance: int
    event_time: int
    event_details: EventDetails | None
    valid_till: int
    unlocks_at: int
    redemptions_allowed: int
    redemptions_used: int
    revoked_at: int | None = None
    created_at: int = 0
    # Reserved by live holds (stored HELD, not yet expired) at the instant the entry was read.
    redemptions_held: int = 0

    @property
    def redemptions_left(self) -> int:
        return max(0, self.redemptions_allowed - self.redemptions_used)

    @property
    def redemptions_available(self) -> int:
        """What a new redemption or hold may take: what is left, less what live holds reserve."""
        return max(0, self.redemptions_left - self.redemptions_held)


@dataclass(frozen=True, slots=True)
class RedemptionLine:
    promotion_id: str
    redemption_count: int
    discount: Decimal
    discount_applied_on_quantity: Decimal
    promotion_applied_on_quantity: Decimal
    sku: str | None = None
    earned_promotion_id: str | None = None


@dataclass(frozen=True, slots=True)
class Consumption:
    earned_promotion_id: str
    promotion_id: str
    count: int


@dataclass(frozen=True, slots=True)
class ReversalLine:
    """Redemptions given back: of a wallet entry (earned_promotion_id set), or of a POS or CODE
    promotion, which consumed no entry (earned_promotion_id None)."""

    promotion_id: str
    redemption_count: int
    earned_promotion_id: str | None = None


@dataclass(frozen=True, slots=True)
class Reversal:
    """A recorded reversal of (part of) a redemption: `lines` are what it gave back, entry by entry."""

    org_id: int
    id: str
    reversal_identifier: str
    redemption_id: str
    number: int  # 1 for its redemption's first reversal, 2 for the next...
    reason: str | None
    lines: list[ReversalLine]
    content_hash: str
    actor: str
    created_at: int


@dataclass(frozen=True, slots=True)
class Redemption:
    org_id: int
    id: str
    customer_id: int
    customer_identifier_type: CustomerIdentifierType | None
    customer_identifier_value: str | None
    transaction_identifier: str
    transaction_number: str
    transaction_date: int
    amount: Decimal
    line_items: list[RedemptionLine] = field(default_factory=list)
    redemptions: list[RedemptionLine] = field(default_factory=list)
    consumed: list[Consumption] = field(default_factory=list)
    content_hash: str = ""
    created_at: int = 0
    reversals: list[Reversal] = field(default_factory=list)  # by number


@dataclass(frozen=True, slots=True)
class Hold:
    """Counts of wallet entries reserved for one transaction until `expires_at` (DESIGN §8.2).
    `allocations` are what the coverage plan chose at hold time; a commit consumes exactly them.
    `status` is the stored one (HELD, COMMITTED or RELEASED); read it through `hold_status`."""

    org_id: int
    id: str
    customer_id: int
    customer_identifier_type: CustomerIdentifierType | None
    customer_identifier_value: str | None
    transaction_identifier: str
    transaction_number: str
    transaction_date: int
    amount: Decimal
    status: HoldStatus
    expires_at: int
    content_hash: str
    actor: str
    created_at: int
    line_items: list[RedemptionLine] = field(default_factory=list)
    redemptions: list[RedemptionLine] = field(default_factory=list)
    allocations: list[Consumption] = field(default_factory=list)
    settled_at: int | None = None  # when it was committed or released
    redemption_id: str | None = None  # once committed
    redemption: Redemption | None = None  # filled in by the services that answer it


@dataclass(frozen=True, slots=True)
class ReversalOutcome:
    """What reverseRedemption answers: the reversal (new or recorded) and its redemption as it
    stands after it."""

    reversal: Reversal
    redemption: Redemption


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of a keyset-paginated list. `cursors[i]` is the cursor of `items[i]`."""

    items: list[T]
    cursors: Sequence[str]  # a list, or LazyCursors (domain/paging.py): encoded when read
    has_next_page: bool


@dataclass(frozen=True, slots=True)
class WalletPage:
    """A wallet page as one read returns it: the entries, and what the caller also asked for."""

    page: Page[EarnedPromotion]
    total_count: int | None  # None: not asked for
    promotions: dict[str, Promotion]  # of the page's entries, by id; empty: not asked for
    # The org's IANA timezone, read by the same statement (validTillLocal); None: not asked for,
    # or the page is empty (nothing to show in local time).
    timezone: str | None = None


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    """One appended row of a wallet's history: what moved, by whom, from which source."""

    org_id: int
    customer_id: int
    promotion_id: str
    earned_promotion_id: str | None
    kind: LedgerKind
    quantity: int
    actor: str
    source: str
    created_at: int


@dataclass(frozen=True, slots=True)
class LedgerChanges:
    """What a wallet's ledger says changed after a position: the entries touched, each once, in
    the order of their first change; the position read up to; whether the ledger ended there."""

    entry_ids: list[str]
    position: int
    complete: bool


@dataclass(frozen=True, slots=True)
class ApiClientRecord:
    """A stored API client: its secret only as a hash."""

    id: int
    org_id: int
    name: str
    username: str
    secret_hash: str
    scopes: tuple[str, ...]
    active: bool
