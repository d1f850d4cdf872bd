"""The rules of redeemPromotions and revokeEarnedPromotions (DESIGN §6 "Redeem").

Plain Python: the shape rules (400), canonical amounts, the content hash that makes a repeated
transactionIdentifier idempotent, and the coverage plan — which wallet entries pay for which
redemptions. The service only loads data, calls these, and writes what they decide.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from functools import partial

from app.domain.checks import UNRECORDED, Checks
from app.domain.clock import MAX_INSTANT_MS
from app.domain.commands import RedeemPromotions, RevokeEarnedPromotions
from app.domain.errors import (
    CustomerNotFound,
    DomainError,
    EarnedPromotionNotFound,
    InvalidRequest,
    InvalidWebEngageAccount,
    NotRedeemableReason,
    PromotionNotFound,
    PromotionNotRedeemable,
    RedemptionWithoutEvaluationDisabled,
)
from app.domain.holds import transaction_held
from app.domain.ids import MAX_LONG
from app.domain.models import (
    Consumption,
    Customer,
    EarnedPromotion,
    EarnedPromotionStatus,
    OrgSettings,
    Promotion,
    RedemptionLine,
)
from app.domain.rules import (
    check_identifier,
    earned_status,
    is_valid_web_engage_account_id,
)

MAX_LINES = 1000
MAX_REVOKE_IDS = 1000
# Money and quantities are kept to 6 decimal places (the spec prints "500.000000"); more
# precision is refused rather than rounded, so what is stored is exactly what was sent.
DECIMAL_PLACES = 6
_QUANTUM = Decimal(1).scaleb(-DECIMAL_PLACES)
# 18 integer digits + point + 6 decimals fits the 40-character columns with room to spare.
_DECIMAL_LIMIT = Decimal(10) ** 18


# ---------------------------------------------------------------------------------------------
# 400: the shape of a request


def canonical_decimal(value: Decimal, field: str) -> Decimal:
    """≥ 0, at most 6 decimal places, below 10^18; returned quantized to exactly 6 places so that
    equal values have one spelling ("500", 500.0 and "500.000000" all become 500.000000)."""
    if not value.is_finite() or value < 0:
        raise InvalidRequest(f"{field} must be a number ≥ 0", field=field)
    if value >= _DECIMAL_LIMIT:
        raise InvalidRequest(f"{field} must be below 10^18", field=field)
    try:
        quantized = value.quantize(_QUANTUM)
    except InvalidOperation as exc:  # pragma: no cover - excluded by the limit above
        raise InvalidRequest(f"{field} is out of range", field=field) from exc
    if quantized != value:
        raise InvalidRequest(f"{field} has more than {DECIMAL_PLACES} decimal places", field=field)
    return quantized if not quantized.is_zero() else _QUANTUM * 0  # never "-0.000000"


def decimal_text(value: Decimal) -> str:
    """The stored spelling of a canonical decimal."""
    return format(value, "f")


def _check_text(value: str | None, field: str, *, required: bool) -> None:
    if value is None:
        if required:
            raise InvalidRequest(f"{field} is required", field=field)
        return
    check_identifier(value, field)


def _validated_line(line: RedemptionLine, field: str, *, may_name_entry: bool) -> RedemptionLine:
    _check_text(line.promotion_id, f"{field}.promotionId", required=True)
    _check_text(line.sku, f"{field}.sku", required=False)
    if line.earned_promotion_id is not None and not may_name_entry:
        raise InvalidRequest(
            "only lineItems may name an earnedPromotionId", field=f"{field}.earnedPromotionId"
        )
    _check_text(line.earned_promotion_id, f"{field}.earnedPromotionId", required=False)
    if line.redemption_count < 1:
        raise InvalidRequest("redemptionCount must be at least 1", field=f"{field}.redemptionCount")
    discount = canonical_decimal(line.discount, f"{field}.discount")
    applied = canonical_decimal(line.discount_applied_on_quantity, f"{field}.discountAppliedOnQuantity")
    eligible = canonical_decimal(line.promotion_applied_on_quantity, f"{field}.promotionAppliedOnQuantity")
    if applied > eligible:
        raise InvalidRequest(
            "discountAppliedOnQuantity must not exceed promotionAppliedOnQuantity",
            field=f"{field}.discountAppliedOnQuantity",
        )
    return replace(
        line,
        discount=discount,
        discount_applied_on_quantity=applied,
        promotion_applied_on_quantity=eligible,
    )


def _validated_lines(
    lines: Sequence[RedemptionLine] | None, name: str, *, may_name_entries: bool
) -> tuple[RedemptionLine, ...]:
    if not lines:
        return ()
    if len(lines) > MAX_LINES:
        raise InvalidRequest(f"{name} has at most {MAX_LINES} entries", field=name)
    return tuple(
        _validated_line(line, f"{name}[{index}]", may_name_entry=may_name_entries)
        for index, line in enumerate(lines)
    )


def _totals(lines: Iterable[RedemptionLine]) -> dict[str, tuple[int, Decimal]]:
    totals: dict[str, tuple[int, Decimal]] = {}
    for line in lines:
        count, discount = totals.get(line.promotion_id, (0, Decimal(0)))
        totals[line.promotion_id] = (count + line.redemption_count, discount + line.discount)
    return totals


def validate_redeem(command: RedeemPromotions) -> RedeemPromotions:
    """Every 400 that needs no data, in a fixed order; returns the command with canonical decimals
    and empty lists as ().

    Semantics of the two lists: `lineItems` are per purchased item (and may name the wallet entry
    to use); `redemptions` are per promotion. Either alone says what is redeemed. When both are
    given, they must describe the same redemptions: per promotion, the same total redemptionCount
    and the same total discount (quantities are per item and are not compared)."""
    if command.customer_id is None:
        if command.identifier_type is None or command.identifier_value is None:
            raise InvalidRequest(
                "give customerId, or customerIdentifierType and customerIdentifierValue", field="customerId"
            )
    elif command.customer_id < 1 or command.customer_id > MAX_LONG:
        raise InvalidRequest("customerId must be a positive 64-bit integer", field="customerId")
    elif (command.identifier_type is None) != (command.identifier_value is None):
        raise InvalidRequest(
            "customerIdentifierType and customerIdentifierValue go together",
            field="customerIdentifierType" if command.identifier_type is None else "customerIdentifierValue",
        )
    _check_text(command.identifier_value, "customerIdentifierValue", required=False)
    _check_text(command.transaction_identifier, "transactionIdentifier", required=True)
    _check_text(command.transaction_number, "transactionNumber", required=True)
    if not 0 <= command.transaction_date <= MAX_INSTANT_MS:  # past it, transactionDateISO cannot be written
        raise InvalidRequest(
            "transactionDate must be epoch milliseconds before the year 10000", field="transactionDate"
        )
    amount = canonical_decimal(command.amount, "amount")
    line_items = _validated_lines(command.line_items, "lineItems", may_name_entries=True)
    redemptions = _validated_lines(command.redemptions, "redemptions", may_name_entries=False)
    if not line_items and not redemptions:
        raise InvalidRequest("give at least one of lineItems or redemptions", field="lineItems")
    if line_items and redemptions and _totals(line_items) != _totals(redemptions):
        raise InvalidRequest(
            "lineItems and redemptions must agree on each promotion's total redemptionCount and discount",
            field="redemptions",
        )
    total_discount = sum((line.discount for line in line_items or redemptions), Decimal(0))
    if total_discount > amount:
        raise InvalidRequest("the total discount must not exceed amount", field="amount")
    return replace(command, amount=amount, line_items=line_items, redemptions=redemptions)


def check_customer_agrees(command: RedeemPromotions, customer: Customer) -> None:
    """customerId and an identifier pair, both given, must name the same customer."""
    if command.customer_id is None or command.identifier_type is None:
        return
    if customer.identifiers().get(command.identifier_type) != command.identifier_value:
        raise InvalidRequest(
            f"customer {customer.id} has no {command.identifier_type.value} {command.identifier_value!r}",
            field="customerIdentifierValue",
        )


# ---------------------------------------------------------------------------------------------
# The checks of redeemPromotions, by name, in their order (services/redeem.py runs them; so does
# services/explain.py, through a recorder)


class Check(StrEnum):
    REQUEST = "request"  # every 400 of the shape: validate_redeem
    CUSTOMER = "customer"  # 404
    CUSTOMER_IDENTIFIER = "customerIdentifier"  # customerId and the identifier pair agree (400)
    REDEMPTION_WITHOUT_EVALUATION = "redemptionWithoutEvaluation"  # 405
    WEB_ENGAGE_ACCOUNT = "webEngageAccount"  # 406
    TRANSACTION = "transactionIdentifier"  # a replay (same content) or a 400; held by a live hold: 400
    PROMOTIONS = "promotions"  # 404
    COVERAGE = "coverage"  # one per promotion, "coverage:<promotionId>": 404 entry / 400 not redeemable


def request_detail(command: RedeemPromotions) -> str:
    lines = len(command.line_items or ()) or len(command.redemptions or ())
    return (
        f"transactionIdentifier {command.transaction_identifier!r}, amount {decimal_text(command.amount)} "
        f"and {lines} line(s) are well formed"
    )


def check_customer_found(command: RedeemPromotions, customer: Customer | None) -> Customer:
    if customer is not None:
        return customer
    if command.customer_id is not None:
        raise CustomerNotFound(
            f"Customer {command.customer_id} not found", customer_ids=[command.customer_id]
        )
    assert command.identifier_type is not None
    raise CustomerNotFound(
        f"No customer with {command.identifier_type.value} {command.identifier_value!r}", customer_ids=[]
    )


def customer_detail(command: RedeemPromotions, customer: Customer) -> str:
    if command.customer_id is not None:
        return f"customer {customer.id} is a customer of the org"
    assert command.identifier_type is not None
    return f"{command.identifier_type.value} {command.identifier_value!r} is customer {customer.id}"


def identifier_detail(command: RedeemPromotions) -> str:
    if command.customer_id is None or command.identifier_type is None:
        return "the customer is named one way only: nothing to compare"
    return f"customer {command.customer_id} has {command.identifier_type.value} {command.identifier_value!r}"


def check_redemption_without_evaluation(settings: OrgSettings) -> None:
    if not settings.redemption_without_evaluation:
        raise RedemptionWithoutEvaluationDisabled(
            "This org is not enabled for redemption without cart evaluation"
        )


def check_web_engage_account(settings: OrgSettings) -> None:
    account = settings.web_engage_account_id
    if account is not None and not is_valid_web_engage_account_id(account):
        raise InvalidWebEngageAccount(
            "The org's webEngageAccountId is not valid (expected an optional '~' then 8 to 12 "
            "lowercase letters or digits); update it in the org settings"
        )


def web_engage_detail(settings: OrgSettings) -> str:
    account = settings.web_engage_account_id
    return (
        "the org has no webEngageAccountId" if account is None else f"webEngageAccountId {account!r} is valid"
    )


def check_transaction(
    transaction_identifier: str, digest: str, *, recorded_hash: str | None, held: bool
) -> bool:
    """Whether the request is a replay of a recorded redemption (same content: it is answered
    again and consumes nothing; other content: 400); a transactionIdentifier a live hold holds is
    a 400. False: a new transaction."""
    if recorded_hash is not None:
        check_replay(recorded_hash, digest, transaction_identifier)
        return True
    if held:
        raise transaction_held(transaction_identifier)
    return False


def transaction_detail(transaction_identifier: str, replay: bool) -> str:
    if replay:
        return (
            f"transactionIdentifier {transaction_identifier!r} is already recorded with the same "
            "content: the recorded redemption is answered again and nothing is consumed"
        )
    return f"transactionIdentifier {transaction_identifier!r} is new: not recorded, not held"


def check_promotions_found(promotion_ids: Sequence[str], promotions: Mapping[str, Promotion]) -> None:
    missing = [promotion_id for promotion_id in promotion_ids if promotion_id not in promotions]
    if missing:
        raise PromotionNotFound(f"Promotion {missing[0]} not found")


def promotions_detail(promotions: Mapping[str, Promotion]) -> str:
    return (
        "promotion(s) "
        + ", ".join(f"{p.id} ({p.type.value})" for p in promotions.values())
        + " exist in the org"
    )


def validate_revoke(command: RevokeEarnedPromotions) -> list[str]:
    """1 to 1000 ids; returns them without repeats, in request order."""
    if command.customer_id < 1 or command.customer_id > MAX_LONG:
        raise InvalidRequest("customerId must be a positive 64-bit integer", field="customerId")
    ids = list(dict.fromkeys(command.earned_promotion_ids))
    if not ids or len(command.earned_promotion_ids) > MAX_REVOKE_IDS:
        raise InvalidRequest(
            f"earnedPromotionIds must have 1 to {MAX_REVOKE_IDS} entries", field="earnedPromotionIds"
        )
    for value in ids:
        _check_text(value, "earnedPromotionIds", required=True)
    return ids


# ---------------------------------------------------------------------------------------------
# Idempotency


def content_hash(command: RedeemPromotions, customer_id: int) -> str:
    """What makes two requests with one transactionIdentifier "the same": the customer they
    resolve to (by id or by identifier alike), number, date, amount and the lines, with canonical
    decimals and the lines of each list sorted (their order carries no meaning)."""

    def lines(items: Sequence[RedemptionLine] | None) -> list[list[object]]:
        return sorted(
            [
                line.promotion_id,
                line.earned_promotion_id or "",
                line.sku or "",
                line.redemption_count,
                decimal_text(line.discount),
                decimal_text(line.discount_applied_on_quantity),
                decimal_text(line.promotion_applied_on_quantity),
            ]
            for line in items or ()
        )

    document = [
        customer_id,
        command.transaction_number,
        command.transaction_date,
        decimal_text(command.amount),
        lines(command.line_items),
        lines(command.redemptions),
    ]
    return hashlib.sha256(json.dumps(document, separators=(",", ":")).encode()).hexdigest()


def check_replay(recorded_hash: str, new_hash: str, transaction_identifier: str) -> None:
    if recorded_hash != new_hash:
        raise InvalidRequest(
            f"transactionIdentifier {transaction_identifier!r} was already recorded with other content",
            field="transactionIdentifier",
        )


# ---------------------------------------------------------------------------------------------
# Coverage: which wallet entries pay for the redemptions


def requested_promotion_ids(command: RedeemPromotions) -> list[str]:
    """Promotion ids in order of first mention."""
    return list(
        dict.fromkeys(
            line.promotion_id for line in (*(command.line_items or ()), *(command.redemptions or ()))
        )
    )


def _counted_lines(command: RedeemPromotions) -> Sequence[RedemptionLine]:
    # After validation the two lists agree per promotion, so either one gives the counts;
    # lineItems are preferred because only they can name entries.
    return command.line_items or command.redemptions or ()


_REASON_OF_STATUS = {
    EarnedPromotionStatus.LOCKED: NotRedeemableReason.LOCKED,
    EarnedPromotionStatus.EXPIRED: NotRedeemableReason.EXPIRED,
    EarnedPromotionStatus.REDEEMED: NotRedeemableReason.ALREADY_REDEEMED,
    EarnedPromotionStatus.REVOKED: NotRedeemableReason.REVOKED,
    # An unlocked entry that still cannot cover the request has too few redemptions left.
    EarnedPromotionStatus.UNLOCKED: NotRedeemableReason.ALREADY_REDEEMED,
}
# When several entries fail for different reasons, the reason that tells the customer most:
# HELD (it comes back if the hold is released or expires), LOCKED (it will become usable), then
# ALREADY_REDEEMED, EXPIRED, REVOKED.
_REASON_PRIORITY = [
    NotRedeemableReason.HELD,
    NotRedeemableReason.LOCKED,
    NotRedeemableReason.ALREADY_REDEEMED,
    NotRedeemableReason.EXPIRED,
    NotRedeemableReason.REVOKED,
]


def _reason(entry: EarnedPromotion, now: int) -> NotRedeemableReason:
    status = earned_status(entry, now)
    if status is EarnedPromotionStatus.UNLOCKED and entry.redemptions_held > 0:
        return NotRedeemableReason.HELD  # it stays UNLOCKED: only holds keep it from being used
    return _REASON_OF_STATUS[status]


def best_reason(entries: Sequence[EarnedPromotion], now: int) -> NotRedeemableReason:
    reasons = {_reason(entry, now) for entry in entries}
    if not reasons:
        return NotRedeemableReason.NOT_EARNED
    return next(reason for reason in _REASON_PRIORITY if reason in reasons)


def _not_redeemable(promotion_id: str, count: int, reason: NotRedeemableReason) -> PromotionNotRedeemable:
    why = {
        NotRedeemableReason.NOT_EARNED: "the customer has not earned it",
        NotRedeemableReason.LOCKED: "the customer's entries are not unlocked yet",
        NotRedeemableReason.EXPIRED: "the customer's entries have expired",
        NotRedeemableReason.ALREADY_REDEEMED: "the customer's entries have no redemptions left",
        NotRedeemableReason.REVOKED: "the customer's entries were revoked",
        NotRedeemableReason.HELD: "what is left of the customer's entries is held for another transaction",
    }[reason]
    return PromotionNotRedeemable(
        f"Promotion {promotion_id} cannot be redeemed {count} time(s): {why}", reason=reason
    )


def _requirements(command: RedeemPromotions) -> tuple[dict[str, int], dict[str, dict[str, int]]]:
    """Per promotion: the count required, and the counts its lines take from named entries."""
    required: dict[str, int] = {}
    named: dict[str, dict[str, int]] = {}
    for line in _counted_lines(command):
        required[line.promotion_id] = required.get(line.promotion_id, 0) + line.redemption_count
        if line.earned_promotion_id is not None:
            per_entry = named.setdefault(line.promotion_id, {})
            per_entry[line.earned_promotion_id] = (
                per_entry.get(line.earned_promotion_id, 0) + line.redemption_count
            )
    return required, named


def plan_coverage(
    command: RedeemPromotions,
    *,
    promotions: Mapping[str, Promotion],
    entries: Sequence[EarnedPromotion],
    now: int,
    checks: Checks = UNRECORDED,
) -> list[Consumption]:
    """Decide which entries each wallet promotion consumes, or raise why it cannot: one check per
    promotion (`Check.COVERAGE`), in order of first mention (`cover_promotion`).

    `entries` are all of the customer's entries of the requested promotions."""
    by_promotion: dict[str, list[EarnedPromotion]] = {}
    for entry in sorted(entries, key=lambda x: (x.valid_till, x.id)):
        by_promotion.setdefault(entry.promotion_id, []).append(entry)
    required, named = _requirements(command)
    plan: list[Consumption] = []
    for promotion_id in requested_promotion_ids(command):
        promotion = promotions[promotion_id]
        held = by_promotion.get(promotion_id, []) if promotion.type.held_in_wallet else []
        cover = partial(
            cover_promotion, promotion, held, required[promotion_id], named.get(promotion_id, {}), now
        )
        plan.extend(
            checks.run_or(
                f"{Check.COVERAGE.value}:{promotion_id}",
                cover,
                partial(_coverage_detail, promotion, held, required[promotion_id], now),
                [],
                on_failure=partial(_coverage_failure, held, required[promotion_id], now),
            )
        )
    return plan


def cover_promotion(
    promotion: Promotion,
    held: Sequence[EarnedPromotion],
    required: int,
    named: Mapping[str, int],
    now: int,
) -> list[Consumption]:
    """One promotion's share of the plan. Lines naming an earnedPromotionId take from that entry,
    which must be this customer's entry of this promotion (else 404) and UNLOCKED with enough
    left; the rest of the count comes from UNLOCKED entries with redemptions left, soonest-expiring
    first (validTill, then id), possibly spanning several entries. What live holds reserve is not
    left (`redemptions_available`). POS and CODE promotions consume nothing. `held`: the customer's
    entries of the promotion, soonest-expiring first."""
    promotion_id = promotion.id
    left = {
        entry.id: entry.redemptions_available
        if earned_status(entry, now) is EarnedPromotionStatus.UNLOCKED
        else 0
        for entry in held
    }
    taken: dict[str, int] = {}
    for entry_id, count in named.items():
        named_entry = next((x for x in held if x.id == entry_id), None)
        if named_entry is None:
            raise EarnedPromotionNotFound(
                f"Earned promotion {entry_id} is not an entry of promotion {promotion_id} "
                "in this customer's wallet"
            )
        if left[entry_id] < count:
            raise _not_redeemable(promotion_id, count, best_reason([named_entry], now))
        left[entry_id] -= count
        taken[entry_id] = count
    if not promotion.type.held_in_wallet:
        return []  # applied at the till: nothing in the wallet pays for it
    remaining = required - sum(taken.values())
    for entry in held:
        if remaining == 0:
            break
        use = min(left[entry.id], remaining)
        if use:
            left[entry.id] -= use
            taken[entry.id] = taken.get(entry.id, 0) + use
            remaining -= use
    if remaining:
        raise _not_redeemable(promotion_id, required, best_reason(held, now))
    return [
        Consumption(earned_promotion_id=entry_id, promotion_id=promotion_id, count=count)
        for entry_id, count in taken.items()
    ]


def _entries_text(held: Sequence[EarnedPromotion], now: int) -> str:
    if not held:
        return "the customer holds no entry of it"
    return "entries: " + "; ".join(
        f"{x.id} {earned_status(x, now).value}, {x.redemptions_used} of {x.redemptions_allowed} used"
        + (f", {x.redemptions_held} held" if x.redemptions_held else "")
        for x in held
    )


def _coverage_detail(
    promotion: Promotion, held: Sequence[EarnedPromotion], required: int, now: int, plan: list[Consumption]
) -> str:
    if not promotion.type.held_in_wallet:
        return (
            f"promotion {promotion.id} is {promotion.type.value}: applied at the till, no wallet entry used"
        )
    taking = ", ".join(f"{c.count} from {c.earned_promotion_id}" for c in plan)
    entries = _entries_text(held, now)
    return f"promotion {promotion.id}: {required} redemption(s) needed, taking {taking} ({entries})"


def _coverage_failure(held: Sequence[EarnedPromotion], required: int, now: int, error: DomainError) -> str:
    return f"{error.message} ({required} needed; {_entries_text(held, now)})"


# ---------------------------------------------------------------------------------------------
# Revoke


@dataclass(frozen=True, slots=True)
class RevokeDecision:
    """Per requested id: revoke it now, report it as already revoked, or refuse it."""

    earned_promotion_id: str
    revoke: bool
    already_revoked: bool = False
    error: EarnedPromotionNotFound | PromotionNotRedeemable | None = None


def decide_revocations(
    ids: Sequence[str], *, customer_id: int, found: Mapping[str, EarnedPromotion]
) -> list[RevokeDecision]:
    """Only unredeemed entries of this customer are revoked. Revoking an entry that is already
    revoked is a no-op success (a retried call gets the same answer), not counted again."""
    decisions: list[RevokeDecision] = []
    for entry_id in ids:
        entry = found.get(entry_id)
        if entry is None or entry.customer_id != customer_id:
            error: EarnedPromotionNotFound | PromotionNotRedeemable = EarnedPromotionNotFound(
                f"Earned promotion {entry_id} is not in customer {customer_id}'s wallet"
            )
            decisions.append(RevokeDecision(entry_id, revoke=False, error=error))
        elif entry.revoked_at is not None:
            decisions.append(RevokeDecision(entry_id, revoke=False, already_revoked=True))
        elif entry.redemptions_held > 0:
            error = PromotionNotRedeemable(
                f"Earned promotion {entry_id} is held for a transaction ({entry.redemptions_held} "
                "redemption(s)); release the hold or let it expire before revoking it",
                reason=NotRedeemableReason.HELD,
            )
            decisions.append(RevokeDecision(entry_id, revoke=False, error=error))
        elif entry.redemptions_used > 0:
            error = PromotionNotRedeemable(
                f"Earned promotion {entry_id} has been redeemed {entry.redemptions_used} time(s); "
                "only unredeemed entries can be revoked",
                reason=NotRedeemableReason.ALREADY_REDEEMED,
            )
            decisions.append(RevokeDecision(entry_id, revoke=False, error=error))
        else:
            decisions.append(RevokeDecision(entry_id, revoke=True))
    return decisions
