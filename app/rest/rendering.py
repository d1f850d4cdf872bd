"""Domain results → the JSON of the spec pages, and a JSON writer that prints a decimal amount as
an exact JSON number (1000.0), never through a binary float."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import orjson
from starlette.responses import Response

from app.domain.clock import to_iso
from app.domain.earn_rules import EarnOutcome
from app.domain.errors import ErrorCode
from app.domain.holds import hold_status
from app.domain.models import EarnedPromotion, Hold, Redemption, RedemptionLine, Reversal, ReversalOutcome
from app.domain.presentation import entry_facts, valid_till_local
from app.domain.redemption import decimal_text
from app.domain.reversal import redemption_status
from app.rest.errors import INTERNAL_MESSAGE
from app.rest.schemas import IDENTIFIER_TYPE_TEXT, identifier_type


class JsonNumber(str):
    """Text written into the JSON as a number literal, as is."""

    __slots__ = ()


def number(value: Decimal) -> JsonNumber:
    """1000.000000 -> 1000.0, 12.500000 -> 12.5: the shortest exact spelling with a decimal point."""
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0")
        if text.endswith("."):
            text += "0"
    else:
        text += ".0"
    return JsonNumber(text)


def _write(value: Any, out: list[str]) -> None:
    if isinstance(value, JsonNumber):
        out.append(str(value))
    elif isinstance(value, Mapping):
        out.append("{")
        for index, (key, item) in enumerate(value.items()):
            if index:
                out.append(",")
            out.append(json.dumps(str(key), ensure_ascii=False))
            out.append(":")
            _write(item, out)
        out.append("}")
    elif isinstance(value, list | tuple):
        out.append("[")
        for index, item in enumerate(value):
            if index:
                out.append(",")
            _write(item, out)
        out.append("]")
    else:
        out.append(json.dumps(value, ensure_ascii=False, allow_nan=False))


def dumps(value: Any) -> str:
    out: list[str] = []
    _write(value, out)
    return "".join(out)


class ExactJSONResponse(Response):
    """For bodies with `JsonNumber`s (a redemption's amount). Others use JSONResponse: the
    standard encoder is much faster on the 100,000 entries an issueBulk may answer with."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return dumps(content).encode("utf-8")


class WalletJSONResponse(Response):
    """A wallet page, written by orjson: the same bytes as JSONResponse's compact UTF-8 JSON (the
    page has no decimal amounts), written several times faster."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


# ---------------------------------------------------------------------------------------------
# Wallet entries


def issued_entry(entry: EarnedPromotion) -> dict[str, Any]:
    """The issue-cart-promotion page's entry."""
    return {
        "id": entry.id,
        "customerId": entry.customer_id,
        "promotionId": entry.promotion_id,
        "earnedFromId": entry.earned_from_id,
        "eventTime": entry.event_time,
        "validTill": entry.valid_till,
    }


def earned_entry(entry: EarnedPromotion) -> dict[str, Any]:
    """The bulk-earn page's customerEarnedPromotions entry."""
    details = entry.event_details
    return {
        "id": entry.id,
        "customerId": entry.customer_id,
        "promotionId": entry.promotion_id,
        "earnedFromType": entry.earned_from_type.value,
        "earnedFromId": entry.earned_from_id,
        "eventTime": entry.event_time,
        "eventTimeISO": to_iso(entry.event_time),
        "eventDetails": {"id": details.id, "type": details.type} if details else None,
        "validTill": entry.valid_till,
        "validTillISO": to_iso(entry.valid_till),
    }


def wallet_entry(entry: EarnedPromotion, now: int, zone: ZoneInfo) -> dict[str, Any]:
    """The wallet page's entry: `earned_entry`'s fields, then the entry's state. Written out in
    one literal rather than merged onto `earned_entry`'s: the wallet page builds twenty of them."""
    facts = entry_facts(entry, now)
    details = entry.event_details
    return {
        "id": entry.id,
        "customerId": entry.customer_id,
        "promotionId": entry.promotion_id,
        "earnedFromType": entry.earned_from_type.value,
        "earnedFromId": entry.earned_from_id,
        "eventTime": entry.event_time,
        "eventTimeISO": to_iso(entry.event_time),
        "eventDetails": {"id": details.id, "type": details.type} if details else None,
        "validTill": entry.valid_till,
        "validTillISO": to_iso(entry.valid_till),
        "status": facts.status.value,
        "redemptionsAllowed": entry.redemptions_allowed,
        "redemptionsUsed": entry.redemptions_used,
        "redemptionsHeld": entry.redemptions_held,
        "redemptionsRemaining": facts.redemptions_remaining,
        "redeemable": facts.redeemable,
        "validTillLocal": valid_till_local(entry, zone),
    }


def wallet_page(
    customer_id: int, entries: Sequence[EarnedPromotion], next_cursor: str | None, now: int, zone: ZoneInfo
) -> dict[str, Any]:
    """The wallet route's body."""
    return {
        "data": {
            "customerId": customer_id,
            "customerEarnedPromotions": [wallet_entry(entry, now, zone) for entry in entries],
            "nextCursor": next_cursor,
        }
    }


def earn_result(outcome: EarnOutcome) -> dict[str, Any]:
    result: dict[str, Any] = {
        "earnedFromId": outcome.earned_from_id,
        "promotionId": outcome.promotion_id,
        "successfulEarnCount": outcome.successful_count,
        "failedEarnCount": outcome.failed_count,
    }
    if outcome.error is not None:
        internal = outcome.error.code == ErrorCode.INTERNAL
        result["errorDetails"] = {
            "errorCode": int(outcome.error.code),
            "errorMessages": INTERNAL_MESSAGE if internal else outcome.error.message,
        }
    result["customerEarnedPromotions"] = [earned_entry(x) for x in outcome.entries]
    return result


# ---------------------------------------------------------------------------------------------
# Redemptions


def _amounts(line: RedemptionLine) -> dict[str, Any]:
    return {
        "promotionId": line.promotion_id,
        "redemptionCount": line.redemption_count,
        "discount": decimal_text(line.discount),
        "discountAppliedOnQuantity": decimal_text(line.discount_applied_on_quantity),
        "promotionAppliedOnQuantity": decimal_text(line.promotion_applied_on_quantity),
    }


def reversal_record(reversal: Reversal) -> dict[str, Any]:
    return {
        "id": reversal.id,
        "reversalIdentifier": reversal.reversal_identifier,
        "redemptionId": reversal.redemption_id,
        "reason": reversal.reason,
        "createdAt": reversal.created_at,
        "createdAtISO": to_iso(reversal.created_at),
        "lines": [
            {
                "promotionId": x.promotion_id,
                "earnedPromotionId": x.earned_promotion_id,
                "redemptionCount": x.redemption_count,
            }
            for x in reversal.lines
        ],
    }


def reversal_result(outcome: ReversalOutcome) -> dict[str, Any]:
    return {
        "reversal": reversal_record(outcome.reversal),
        "redemption": redemption_record(outcome.redemption, sent_identifier_type=None),
    }


def redemption_record(redemption: Redemption, *, sent_identifier_type: str | None) -> dict[str, Any]:
    """The redeem page's `data`, plus what the page has not: `id` (which the reversals route
    takes), `status` and `reversals` (DESIGN §8.1). customerIdentifierType is echoed as the request
    spelled it (the page shows "mobile") when it names the recorded type, else in that lower-case
    spelling."""
    recorded_type = redemption.customer_identifier_type
    type_text: str | None = None
    if recorded_type is not None:
        same = sent_identifier_type is not None and identifier_type(sent_identifier_type) is recorded_type
        type_text = sent_identifier_type if same else IDENTIFIER_TYPE_TEXT[recorded_type]
    return {
        "orgId": redemption.org_id,
        "customerIdentifierValue": redemption.customer_identifier_value,
        "customerIdentifierType": type_text,
        "customerId": redemption.customer_id,
        "transactionIdentifier": redemption.transaction_identifier,
        "transactionNumber": redemption.transaction_number,
        "transactionDate": redemption.transaction_date,
        "transactionDateISO": to_iso(redemption.transaction_date),
        "amount": number(redemption.amount),
        "redemptions": [_amounts(x) for x in redemption.redemptions],
        "lineItems": _line_items(redemption.line_items),
        "id": redemption.id,
        "status": redemption_status(redemption).value,
        "reversals": [reversal_record(x) for x in redemption.reversals],
    }


def _line_items(lines: list[RedemptionLine]) -> list[dict[str, Any]]:
    return [
        {"sku": x.sku, "promotionId": x.promotion_id, "earnedPromotionId": x.earned_promotion_id}
        | _amounts(x)
        for x in lines
    ]


def hold_record(hold: Hold, now: int) -> dict[str, Any]:
    """A hold (DESIGN §8.2) in the REST field style; its status as of `now`."""
    return {
        "id": hold.id,
        "status": hold_status(hold, now).value,
        "customerId": hold.customer_id,
        "transactionIdentifier": hold.transaction_identifier,
        "expiresAt": hold.expires_at,
        "expiresAtISO": to_iso(hold.expires_at),
        "redemptions": [_amounts(x) for x in hold.redemptions],
        "lineItems": _line_items(hold.line_items),
        "redemption": (
            redemption_record(hold.redemption, sent_identifier_type=None)
            if hold.redemption is not None
            else None
        ),
    }
