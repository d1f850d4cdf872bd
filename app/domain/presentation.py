"""What a frontend reads off a wallet entry besides its stored values (DESIGN §8.6), one rule for
both faces: how many redemptions it has left to offer, whether it can be redeemed now, and its
validTill in the org's own time. GraphQL's EarnedPromotion and the REST wallet render these."""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple
from zoneinfo import ZoneInfo

from app.domain.clock import to_local_iso
from app.domain.models import EarnedPromotion, EarnedPromotionStatus, Org, OrgSettings, Scope
from app.domain.rules import earned_status

# Entries that may still be redeemed, now (UNLOCKED) or once their promotion starts (LOCKED).
_OPEN = frozenset({EarnedPromotionStatus.LOCKED, EarnedPromotionStatus.UNLOCKED})


class EntryFacts(NamedTuple):
    # A NamedTuple: built for every entry of every page read, at a third of a frozen dataclass's cost.
    status: EarnedPromotionStatus
    redemptions_remaining: int
    redeemable: bool


def entry_facts(entry: EarnedPromotion, now: int) -> EntryFacts:
    """redemptionsRemaining = allowed - used - held on LOCKED and UNLOCKED entries, 0 on REDEEMED,
    EXPIRED and REVOKED ones; redeemable = UNLOCKED with redemptions remaining (an entry whose
    remaining counts are all held stays UNLOCKED but is not redeemable)."""
    status = earned_status(entry, now)
    remaining = entry.redemptions_available if status in _OPEN else 0
    return EntryFacts(
        status=status,
        redemptions_remaining=remaining,
        redeemable=status is EarnedPromotionStatus.UNLOCKED and remaining > 0,
    )


def valid_till_local(entry: EarnedPromotion, zone: ZoneInfo) -> str:
    """validTill with the org's offset (2025-05-31T23:59:59.999+05:30)."""
    return to_local_iso(entry.valid_till, zone)


def org_zone(timezone: str | None) -> ZoneInfo:
    """The org's timezone as read (None: the org is gone): then UTC, the settings' default, so
    that a read never fails for want of one."""
    return ZoneInfo(timezone or OrgSettings().timezone)


@dataclass(frozen=True, slots=True)
class Viewer:
    """Who is calling, as a frontend shows it: the API client's name, its scopes, its org."""

    client_name: str
    username: str
    scopes: tuple[Scope, ...]
    org: Org
