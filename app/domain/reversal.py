"""The rules of reverseRedemption (DESIGN §8.1): giving a redemption's counts back.

Plain Python: the shape rules (400), the content hash that makes a repeated reversalIdentifier
idempotent, what of a redemption is still reversible, and the plan — which entries get which
counts back. Everything is decided from the redemption's own record (its consumptions and the
reversals already made), never by re-planning its coverage.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from app.domain.commands import ReverseRedemption
from app.domain.errors import InvalidRequest, ReversalExceedsRedemption
from app.domain.models import EarnedPromotion, Redemption, RedemptionStatus, ReversalLine
from app.domain.rules import MAX_IDENTIFIER_LENGTH, check_identifier

MAX_REVERSAL_LINES = 1000
MAX_REASON_LENGTH = 1000

# A reversible unit: (promotionId, earnedPromotionId); None for a POS or CODE promotion's counts.
Unit = tuple[str, str | None]


# ---------------------------------------------------------------------------------------------
# 400: the shape of a request


def _check_text(value: str | None, field: str, *, required: bool, limit: int = MAX_IDENTIFIER_LENGTH) -> None:
    if value is None:
        if required:
            raise InvalidRequest(f"{field} is required", field=field)
        return
    check_identifier(value, field, limit)


def validate_reverse(command: ReverseRedemption) -> ReverseRedemption:
    """Every 400 that needs no data, in a fixed order; returns the command with its lines merged
    (one line per promotion and entry, counts added, in order of first mention)."""
    if (command.redemption_id is None) == (command.transaction_identifier is None):
        raise InvalidRequest(
            "name the redemption by exactly one of redemptionId and transactionIdentifier",
            field="redemptionId",
        )
    _check_text(command.redemption_id, "redemptionId", required=False)
    _check_text(command.transaction_identifier, "transactionIdentifier", required=False)
    _check_text(command.reversal_identifier, "reversalIdentifier", required=True)
    _check_text(command.reason, "reason", required=False, limit=MAX_REASON_LENGTH)
    if command.lines is None:
        return command
    if not command.lines:
        raise InvalidRequest("lines must not be empty: leave it out to reverse everything", field="lines")
    if len(command.lines) > MAX_REVERSAL_LINES:
        raise InvalidRequest(f"lines has at most {MAX_REVERSAL_LINES} entries", field="lines")
    merged: dict[Unit, int] = {}
    for index, line in enumerate(command.lines):
        field = f"lines[{index}]"
        _check_text(line.promotion_id, f"{field}.promotionId", required=True)
        _check_text(line.earned_promotion_id, f"{field}.earnedPromotionId", required=False)
        if line.redemption_count < 1:
            raise InvalidRequest("redemptionCount must be at least 1", field=f"{field}.redemptionCount")
        unit = (line.promotion_id, line.earned_promotion_id)
        merged[unit] = merged.get(unit, 0) + line.redemption_count
    lines = [
        ReversalLine(promotion_id=p, earned_promotion_id=e, redemption_count=n)
        for (p, e), n in merged.items()
    ]
    return replace(command, lines=lines)


# ---------------------------------------------------------------------------------------------
# Idempotency


def content_hash(command: ReverseRedemption, redemption_id: str) -> str:
    """What makes two requests with one reversalIdentifier "the same": the redemption they resolve
    to (by id or by transactionIdentifier alike), the reason, and the (merged) lines in any order;
    no lines ("everything left") is content of its own."""
    lines: object = (
        sorted([x.promotion_id, x.earned_promotion_id or "", x.redemption_count] for x in command.lines)
        if command.lines is not None
        else "ALL"
    )
    document = [redemption_id, command.reason or "", lines]
    return hashlib.sha256(json.dumps(document, separators=(",", ":")).encode()).hexdigest()


def check_replay(recorded_hash: str, new_hash: str, reversal_identifier: str) -> None:
    if recorded_hash != new_hash:
        raise InvalidRequest(
            f"reversalIdentifier {reversal_identifier!r} was already recorded with other content",
            field="reversalIdentifier",
        )


# ---------------------------------------------------------------------------------------------
# What is left to reverse


def _counted_totals(redemption: Redemption) -> dict[str, int]:
    # As in redeem: lineItems if any, else redemptions, say what was redeemed (validation made the
    # two agree per promotion).
    totals: dict[str, int] = {}
    for line in redemption.line_items or redemption.redemptions:
        totals[line.promotion_id] = totals.get(line.promotion_id, 0) + line.redemption_count
    return totals


def reversible(redemption: Redemption) -> dict[Unit, int]:
    """Per unit, in the redemption's order, how many counts may still be given back: a wallet
    promotion's consumptions entry by entry; a POS or CODE promotion (which consumed no entry) as
    one unit of its redeemed count. Reversals already made are subtracted."""
    left: dict[Unit, int] = {}
    consumed_promotions = {c.promotion_id for c in redemption.consumed}
    for promotion_id, total in _counted_totals(redemption).items():
        if promotion_id in consumed_promotions:
            for c in redemption.consumed:
                if c.promotion_id == promotion_id:
                    left[(promotion_id, c.earned_promotion_id)] = (
                        left.get((promotion_id, c.earned_promotion_id), 0) + c.count
                    )
        else:
            left[(promotion_id, None)] = total
    for reversal in redemption.reversals:
        for line in reversal.lines:
            unit = (line.promotion_id, line.earned_promotion_id)
            left[unit] = left.get(unit, 0) - line.redemption_count
    return left


def redemption_status(redemption: Redemption) -> RedemptionStatus:
    if not redemption.reversals:
        return RedemptionStatus.ACTIVE
    if any(count > 0 for count in reversible(redemption).values()):
        return RedemptionStatus.PARTIALLY_REVERSED
    return RedemptionStatus.REVERSED


@dataclass(frozen=True, slots=True)
class _Candidate:
    unit: Unit
    usable: bool  # the entry can be redeemed again once given back (not expired, not revoked)
    valid_till: int


def _preference(units: Sequence[Unit], entries: Mapping[str, EarnedPromotion], now: int) -> list[Unit]:
    """Which entries of a promotion get counts back first when the line names none: those the
    customer can use again, latest-expiring first (the counts last longest), then the others."""
    candidates = []
    for unit in units:
        entry = entries.get(unit[1]) if unit[1] is not None else None
        usable = entry is not None and entry.revoked_at is None and entry.valid_till >= now
        candidates.append(_Candidate(unit, usable, entry.valid_till if entry is not None else 0))
    candidates.sort(key=lambda c: (not c.usable, -c.valid_till, c.unit[1] or ""))
    return [c.unit for c in candidates]


def plan_reversal(
    redemption: Redemption,
    lines: Sequence[ReversalLine] | None,
    *,
    entries: Mapping[str, EarnedPromotion],
    now: int,
) -> list[ReversalLine]:
    """The counts to give back, unit by unit, or ReversalExceedsRedemption. No lines: everything
    left. Lines naming an entry take from that entry; lines naming only a promotion take from its
    entries in `_preference` order (after the named lines took theirs). `entries` are the wallet
    entries the redemption consumed, as they are now."""
    left = reversible(redemption)
    if lines is None:
        plan = {unit: count for unit, count in left.items() if count > 0}
        if not plan:
            raise ReversalExceedsRedemption(f"Redemption {redemption.id} is already fully reversed")
        return _lines(plan)
    if not any(count > 0 for count in left.values()):
        raise ReversalExceedsRedemption(f"Redemption {redemption.id} is already fully reversed")
    taken: dict[Unit, int] = {}
    for line in lines:
        if line.earned_promotion_id is None:
            continue
        unit: Unit = (line.promotion_id, line.earned_promotion_id)
        if unit not in left:
            raise ReversalExceedsRedemption(
                f"Redemption {redemption.id} did not consume earned promotion {line.earned_promotion_id} "
                f"of promotion {line.promotion_id}"
            )
        if line.redemption_count > left[unit]:
            raise ReversalExceedsRedemption(
                f"Earned promotion {line.earned_promotion_id} has {left[unit]} redemption(s) of "
                f"redemption {redemption.id} left to reverse, not {line.redemption_count}"
            )
        left[unit] -= line.redemption_count
        taken[unit] = line.redemption_count
    for line in lines:
        if line.earned_promotion_id is not None:
            continue
        units = [unit for unit in left if unit[0] == line.promotion_id]
        if not units:
            raise ReversalExceedsRedemption(
                f"Redemption {redemption.id} did not redeem promotion {line.promotion_id}"
            )
        available = sum(left[unit] for unit in units)
        if line.redemption_count > available:
            raise ReversalExceedsRedemption(
                f"Promotion {line.promotion_id} has {available} redemption(s) of redemption "
                f"{redemption.id} left to reverse, not {line.redemption_count}"
            )
        remaining = line.redemption_count
        for unit in _preference(units, entries, now):
            use = min(left[unit], remaining)
            if use:
                left[unit] -= use
                taken[unit] = taken.get(unit, 0) + use
                remaining -= use
    # In the redemption's order of units: a stable record whatever order the lines came in.
    order = list(reversible(redemption))
    return _lines({unit: taken[unit] for unit in order if unit in taken})


def _lines(counts: Mapping[Unit, int]) -> list[ReversalLine]:
    return [
        ReversalLine(promotion_id=promotion_id, earned_promotion_id=entry_id, redemption_count=count)
        for (promotion_id, entry_id), count in counts.items()
    ]
