"""The rules of holds (DESIGN §8.2): two-phase redemption for payment flows with a second step.

A hold runs every check of a redemption (`domain.redemption`) and then reserves the planned counts
instead of consuming them. Plain Python: the hold's own shape rule (holdSeconds), its status at an
instant (EXPIRED is never stored: a HELD hold past `expires_at` is expired by the clock alone), and
what commit and release may do with a hold in each status.
"""

from __future__ import annotations

from app.domain.errors import HoldExpired, InvalidRequest
from app.domain.models import Hold, HoldStatus

MIN_HOLD_SECONDS = 1
MAX_HOLD_SECONDS = 86_400
DEFAULT_HOLD_SECONDS = 900


def validate_hold_seconds(hold_seconds: int) -> int:
    if not MIN_HOLD_SECONDS <= hold_seconds <= MAX_HOLD_SECONDS:
        raise InvalidRequest(
            f"holdSeconds must be {MIN_HOLD_SECONDS} to {MAX_HOLD_SECONDS}", field="holdSeconds"
        )
    return hold_seconds


def hold_status(hold: Hold, now: int) -> HoldStatus:
    """A hold is live while stored HELD and `now < expires_at`; at `expires_at` it is EXPIRED."""
    if hold.status is HoldStatus.HELD and hold.expires_at <= now:
        return HoldStatus.EXPIRED
    return hold.status


def is_live(hold: Hold, now: int) -> bool:
    return hold_status(hold, now) is HoldStatus.HELD


def check_committable(hold: Hold, now: int) -> None:
    """A COMMITTED hold is answered with its redemption (the caller checks that first); a live one
    is committed; a released or expired one has given its counts back and cannot be."""
    status = hold_status(hold, now)
    if status is HoldStatus.RELEASED:
        raise HoldExpired(f"Hold {hold.id} was released; its redemptions are free again")
    if status is HoldStatus.EXPIRED:
        raise HoldExpired(f"Hold {hold.id} expired; its redemptions are free again")


def check_hold_replay(hold: Hold, new_hash: str) -> None:
    """A live hold's transactionIdentifier: the same content again is the same hold (a retried
    holdPromotions); other content is a 400, as for a recorded redemption."""
    if hold.content_hash != new_hash:
        raise InvalidRequest(
            f"transactionIdentifier {hold.transaction_identifier!r} is held with other content",
            field="transactionIdentifier",
        )


def transaction_held(transaction_identifier: str) -> InvalidRequest:
    """A plain redemption with the transactionIdentifier of a live hold."""
    return InvalidRequest(
        f"transactionIdentifier {transaction_identifier!r} is held: commit or release the hold",
        field="transactionIdentifier",
    )


def transaction_recorded(transaction_identifier: str) -> InvalidRequest:
    """A hold with the transactionIdentifier of a recorded redemption."""
    return InvalidRequest(
        f"transactionIdentifier {transaction_identifier!r} is already recorded as a redemption",
        field="transactionIdentifier",
    )
