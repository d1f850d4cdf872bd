"""Request bodies (parsed by the routes themselves) and response shapes of the REST routes, with
the spec pages' examples for the OpenAPI document.

Only the representation is checked here: JSON types, 64-bit `Long`s (a numeric string is
accepted, as in GraphQL), 32-bit counts, finite decimals. Every rule about values (lengths,
ranges, which customer ids are valid, ...) is the services' and the domain's; the JSON Schemas
below state those rules too (from the domain's own constants), so that a body the document calls
valid is one the domain accepts, except for what a schema cannot say (tests/fuzz, README).
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Annotated, Any, ClassVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictInt, StrictStr, WithJsonSchema
from pydantic.alias_generators import to_camel
from pydantic.json_schema import SkipJsonSchema

from app.domain.clock import MAX_INSTANT_MS
from app.domain.commands import (
    EarnEntryRequest,
    EarnPromotions,
    HoldPromotions,
    RedeemPromotions,
    ReverseRedemption,
)
from app.domain.earn_rules import MAX_EARN_ENTRIES, MAX_EARN_INSTANCES, MAX_EVENT_TIME
from app.domain.holds import DEFAULT_HOLD_SECONDS, MAX_HOLD_SECONDS, MIN_HOLD_SECONDS
from app.domain.ids import MAX_LONG
from app.domain.models import (
    CustomerIdentifierType,
    EarnedFromType,
    EarnedPromotionStatus,
    EventDetails,
    HoldStatus,
    RedemptionLine,
    RedemptionStatus,
    ReversalLine,
)
from app.domain.redemption import MAX_LINES
from app.domain.reversal import MAX_REASON_LENGTH, MAX_REVERSAL_LINES
from app.domain.rules import MAX_IDENTIFIER_LENGTH
from app.domain.text import is_decimal_text

MIN_LONG = -(2**63)
MIN_INT = -(2**31)
MAX_INT = 2**31 - 1
_INTEGER_TEXT = re.compile(r"-?[0-9]{1,25}")


def long_or_raw(value: object) -> object:
    """A numeric string, or a JSON number with no fraction (5.0: an integer to JSON Schema, and
    to GraphQL's Int), becomes its integer; anything else is left for the next check."""
    if isinstance(value, str) and _INTEGER_TEXT.fullmatch(value.strip()):
        return int(value.strip())
    return integral(value)


def integral(value: object) -> object:
    """A JSON number with no fraction becomes its integer (5.0 → 5); anything else is left."""
    # Bounded before int(): 1e999999 has no fraction either, and would take long to expand.
    if (
        isinstance(value, Decimal)
        and value.is_finite()
        and value.adjusted() < 25
        and value == value.to_integral_value()
    ):
        return int(value)
    return value


# Text as the domain accepts it (domain/text.py, rules.check_identifier): no NUL, and for
# identifiers at least one character that is not whitespace (Python's and JSON Schema
# generators' `\s`: what `str.strip` removes). Unpaired UTF-16 surrogates are refused too, which
# the descriptions say: in a character class they make schemathesis' generator send NULs.
STORABLE_TEXT_PATTERN = r"^[^\u0000]*$"
IDENTIFIER_PATTERN = r"^[^\u0000]*[^\s\u0000][^\u0000]*$"
_TEXT_RULE = "No NUL (\\u0000) and no unpaired UTF-16 surrogate."


def identifier_schema(limit: int = MAX_IDENTIFIER_LENGTH) -> dict[str, Any]:
    return {
        "type": "string",
        "minLength": 1,
        "maxLength": limit,
        "pattern": IDENTIFIER_PATTERN,
        "description": f"1 to {limit} characters, not only whitespace. {_TEXT_RULE}",
    }


STORABLE_TEXT_SCHEMA: dict[str, Any] = {
    "type": "string",
    "pattern": STORABLE_TEXT_PATTERN,
    "description": _TEXT_RULE,
}
Identifier = Annotated[StrictStr, WithJsonSchema(identifier_schema())]
"""A client-chosen id (promotionId, earnedFromId, transactionIdentifier, ...): 1 to 250
characters, not blank, storable."""


def _decimal(value: object) -> object:
    if isinstance(value, bool):
        raise ValueError("must be a number")
    if isinstance(value, int | Decimal):
        return Decimal(value)
    if isinstance(value, str):
        if not is_decimal_text(value.strip()):
            raise ValueError("must be a number written with ASCII digits")
        return value.strip()  # pydantic's Decimal parses it
    raise ValueError("must be a number")


def long_schema(minimum: int = MIN_LONG, maximum: int = MAX_LONG) -> dict[str, Any]:
    return {"type": "integer", "format": "int64", "minimum": minimum, "maximum": maximum}


_LONG_SCHEMA = long_schema()
# Customer ids are positive 64-bit integers (rules.check_customer_id, 1006 otherwise).
CUSTOMER_ID_SCHEMA = long_schema(1)
# Up to 18 significant digits as text: every such number is below 2^63, which a pattern cannot
# bound; at most 25 characters, as `long_or_raw` reads.
_POSITIVE_LONG_TEXT = {"type": "string", "pattern": "^0*[1-9][0-9]{0,17}$", "maxLength": 25}
# Epoch milliseconds the domain accepts: 0 up to the last millisecond of the year 9999.
INSTANT_SCHEMA = long_schema(0, MAX_INSTANT_MS)
Long = Annotated[
    StrictInt,
    BeforeValidator(long_or_raw),
    Field(ge=MIN_LONG, le=MAX_LONG),
    WithJsonSchema(_LONG_SCHEMA),
]
"""A 64-bit integer: a JSON number, or a string of digits."""


Instant = Annotated[
    StrictInt, BeforeValidator(long_or_raw), Field(ge=MIN_LONG, le=MAX_LONG), WithJsonSchema(INSTANT_SCHEMA)
]
EventTime = Annotated[
    StrictInt,
    BeforeValidator(long_or_raw),
    Field(ge=MIN_LONG, le=MAX_LONG),
    WithJsonSchema(long_schema(0, MAX_EVENT_TIME)),
]

PositiveLongOrText = Annotated[
    StrictInt,
    BeforeValidator(long_or_raw),
    Field(ge=MIN_LONG, le=MAX_LONG),
    WithJsonSchema({"anyOf": [CUSTOMER_ID_SCHEMA, _POSITIVE_LONG_TEXT]}),
]
"""A customer id that the spec pages send as a string ("566881933")."""

RawCustomerId = Annotated[Any, BeforeValidator(long_or_raw), WithJsonSchema(CUSTOMER_ID_SCHEMA)]
"""A customer id as sent (numeric strings made numbers): the domain decides validity (1006)."""


def _int_schema(minimum: int = MIN_INT, maximum: int = MAX_INT) -> WithJsonSchema:
    return WithJsonSchema({"type": "integer", "format": "int32", "minimum": minimum, "maximum": maximum})


_Int32 = Annotated[StrictInt, BeforeValidator(integral), Field(ge=MIN_INT, le=MAX_INT)]
Count = Annotated[_Int32, _int_schema(1)]
"""A count the domain wants at least 1 of (redemptionCount)."""
EarnCount = Annotated[_Int32, _int_schema(1, MAX_EARN_INSTANCES)]
HoldSeconds = Annotated[_Int32, _int_schema(MIN_HOLD_SECONDS, MAX_HOLD_SECONDS)]
Amount = Annotated[
    Decimal,
    BeforeValidator(_decimal),
    Field(allow_inf_nan=False),
    # 0 to below 10^18, at most 6 decimals (redemption.canonical_decimal); generators make the
    # multiples of 10^-6 from integers, so what they send has no more decimals than that.
    WithJsonSchema(
        {
            "type": "number",
            "minimum": 0,
            "exclusiveMaximum": 10**18,
            "multipleOf": 0.000001,
            "description": "A number (or a numeric string) ≥ 0, below 10^18, at most 6 decimals",
        }
    ),
]


_STORABLE_SCALAR: dict[str, Any] = {
    "anyOf": [{"type": "string", "pattern": STORABLE_TEXT_PATTERN}, {"type": ["number", "boolean", "null"]}]
}
_STORABLE_NAMES: dict[str, Any] = {"pattern": STORABLE_TEXT_PATTERN}
# What an unknown field may hold: anything, as long as its text is storable (read_json refuses
# the whole body otherwise). Two levels deep here: a schema without recursion, which every
# generator reads; deeper values are accepted the same.
_UNKNOWN_FIELD: dict[str, Any] = {
    "anyOf": [
        *_STORABLE_SCALAR["anyOf"],
        {"type": "array", "items": _STORABLE_SCALAR},
        {"type": "object", "propertyNames": _STORABLE_NAMES, "additionalProperties": _STORABLE_SCALAR},
    ]
}


def _body_schema(schema: dict[str, Any], model: type[BaseModel]) -> None:
    schema["propertyNames"] = _STORABLE_NAMES
    schema["additionalProperties"] = _UNKNOWN_FIELD
    schema.update(getattr(model, "_BODY_RULES", {}))


class RestModel(BaseModel):
    """camelCase on the wire, unknown fields ignored (spec clients send more than is needed)."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=False,
        extra="ignore",
        frozen=True,
        json_schema_extra=_body_schema,
    )


# ---------------------------------------------------------------------------------------------
# Requests


class EventDetailsBody(RestModel):
    id: Identifier
    type: Annotated[
        StrictStr, WithJsonSchema({"type": "string", "enum": [t.value for t in EarnedFromType]})
    ] = Field(description="Must equal earnedFromType.")


class EarnedPromotionBody(RestModel):
    promotion_id: Identifier
    earn_count: EarnCount = Field(
        description="How many instances of this earning the customer should hold (≥ 1); the sum "
        f"over the request at most {MAX_EARN_INSTANCES}."
    )
    earned_from_id: Identifier = Field(
        description="With promotionId, identifies the earning: a repeat is idempotent."
    )


class EarnBulkRequest(RestModel):
    # eventDetails.type must equal earnedFromType (earn_rules.check_request): one branch per type.
    _BODY_RULES: ClassVar[dict[str, Any]] = {
        "anyOf": [
            {
                "properties": {
                    "earnedFromType": {"const": t.value},
                    "eventDetails": {"properties": {"type": {"const": t.value}}},
                }
            }
            for t in EarnedFromType
        ]
    }

    org_id: Long | None = Field(default=None, description="Optional; when given, the caller's org.")
    customer_id: RawCustomerId
    event_time: EventTime = Field(description="Epoch milliseconds (UTC).")
    earned_from_type: EarnedFromType
    event_details: EventDetailsBody
    earned_promotions: list[EarnedPromotionBody] = Field(
        description="1 to 1000 entries; each (promotionId, earnedFromId) pair at most once (else 400).",
        # Documented only: the domain's own checks give the messages (earn_rules.py).
        json_schema_extra={"minItems": 1, "maxItems": MAX_EARN_ENTRIES, "uniqueItems": True},
    )

    def to_command(self) -> EarnPromotions:
        return EarnPromotions(
            org_id=self.org_id,
            customer_id=self.customer_id,
            event_time=self.event_time,
            earned_from_type=self.earned_from_type,
            event_details=EventDetails(id=self.event_details.id, type=self.event_details.type),
            entries=[
                EarnEntryRequest(
                    promotion_id=x.promotion_id, earn_count=x.earn_count, earned_from_id=x.earned_from_id
                )
                for x in self.earned_promotions
            ],
        )


_IDENTIFIER_TYPES = {
    "MOBILE": CustomerIdentifierType.MOBILE,
    "EMAIL": CustomerIdentifierType.EMAIL,
    "EXTERNALID": CustomerIdentifierType.EXTERNAL_ID,
}
IDENTIFIER_TYPE_TEXT = {
    CustomerIdentifierType.MOBILE: "mobile",
    CustomerIdentifierType.EMAIL: "email",
    CustomerIdentifierType.EXTERNAL_ID: "externalId",
}


def identifier_type(text: str) -> CustomerIdentifierType | None:
    """mobile, email, externalId (or external_id), in any case."""
    return _IDENTIFIER_TYPES.get(text.replace("_", "").replace("-", "").upper())


def _identifier_type_text(value: object) -> object:
    if isinstance(value, str) and identifier_type(value) is None:
        raise ValueError("must be one of mobile, email, externalId")
    return value


def _identifier_type_pattern() -> str:
    """What `identifier_type` reads, as a pattern without flags (JSON Schema has none): each
    letter in either case, `_` or `-` anywhere."""

    def spelled(word: str) -> str:
        return "[_-]*" + "".join(f"[{c.upper()}{c.lower()}][_-]*" for c in word)

    return "^(" + "|".join(spelled(word) for word in _IDENTIFIER_TYPES) + ")$"


IdentifierTypeText = Annotated[
    StrictStr,
    BeforeValidator(_identifier_type_text),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": _identifier_type_pattern(),
            "description": "mobile, email or externalId (any case, `_` and `-` ignored); echoed as sent",
        }
    ),
]


class _Line(RestModel):
    sku: Identifier | None = None
    promotion_id: Identifier
    redemption_count: Count
    discount: Amount
    discount_applied_on_quantity: Amount
    promotion_applied_on_quantity: Amount
    # Documented on line items only; accepted on redemptions so that the domain can refuse it
    # there ("only lineItems may name ...") instead of it being silently dropped.
    earned_promotion_id: SkipJsonSchema[Identifier | None] = None

    def to_line(self) -> RedemptionLine:
        return RedemptionLine(
            promotion_id=self.promotion_id,
            redemption_count=self.redemption_count,
            discount=self.discount,
            discount_applied_on_quantity=self.discount_applied_on_quantity,
            promotion_applied_on_quantity=self.promotion_applied_on_quantity,
            sku=self.sku,
            earned_promotion_id=self.earned_promotion_id,
        )


class RedeemLineItemBody(_Line):
    earned_promotion_id: Identifier | None = Field(
        default=None, description="The wallet entry to use; without it, the soonest-expiring ones are used."
    )


class RedeemRedemptionBody(_Line):
    pass


_NOT_NULL = {"not": {"type": "null"}}
_NULL = {"type": "null"}
# The domain's rules across fields that a schema can say (redemption.validate_redeem): the
# customer by customerId, or by the identifier pair (both or neither of the pair); and at least
# one non-empty list of lines.
_REDEEM_BODY_RULES: dict[str, Any] = {
    "allOf": [
        {
            "anyOf": [
                {
                    "required": ["customerId"],
                    "properties": {
                        "customerId": _NOT_NULL,
                        "customerIdentifierType": _NULL,
                        "customerIdentifierValue": _NULL,
                    },
                },
                {
                    "required": ["customerIdentifierType", "customerIdentifierValue"],
                    "properties": {"customerIdentifierType": _NOT_NULL, "customerIdentifierValue": _NOT_NULL},
                },
            ]
        },
        {
            "anyOf": [
                {"required": [name], "properties": {name: {"type": "array", "minItems": 1}}}
                for name in ("lineItems", "redemptions")
            ]
        },
    ]
}


class RedeemRequest(RestModel):
    _BODY_RULES: ClassVar[dict[str, Any]] = _REDEEM_BODY_RULES

    customer_identifier_value: Identifier | None = None
    customer_identifier_type: IdentifierTypeText | None = None
    customer_id: PositiveLongOrText | None = Field(default=None, description="A number or a numeric string.")
    transaction_identifier: Identifier = Field(
        description="Unique in the org: a repeat with the same content returns the recorded redemption."
    )
    transaction_number: Identifier
    transaction_date: Instant = Field(description="Epoch milliseconds (UTC).")
    amount: Amount
    line_items: list[RedeemLineItemBody] | None = Field(
        default=None, json_schema_extra={"maxItems": MAX_LINES}
    )
    redemptions: list[RedeemRedemptionBody] | None = Field(
        default=None, json_schema_extra={"maxItems": MAX_LINES}
    )

    def to_command(self) -> RedeemPromotions:
        return RedeemPromotions(
            transaction_identifier=self.transaction_identifier,
            transaction_number=self.transaction_number,
            transaction_date=self.transaction_date,
            amount=self.amount,
            customer_id=self.customer_id,
            identifier_type=(
                identifier_type(self.customer_identifier_type) if self.customer_identifier_type else None
            ),
            identifier_value=self.customer_identifier_value,
            line_items=[x.to_line() for x in self.line_items] if self.line_items is not None else None,
            redemptions=[x.to_line() for x in self.redemptions] if self.redemptions is not None else None,
        )


class HoldRequest(RedeemRequest):
    """holdPromotions: the redeem body, plus how long to hold it."""

    hold_seconds: HoldSeconds | None = Field(
        default=DEFAULT_HOLD_SECONDS, description="1 to 86400; null or absent: 900."
    )

    def to_hold_command(self) -> HoldPromotions:
        seconds = self.hold_seconds if self.hold_seconds is not None else DEFAULT_HOLD_SECONDS
        return HoldPromotions(redemption=self.to_command(), hold_seconds=seconds)


class ReversalLineBody(RestModel):
    promotion_id: Identifier
    earned_promotion_id: Identifier | None = Field(
        default=None,
        description="The consumed entry to give back to; without it, the promotion's entries that can "
        "be used again get theirs back first, latest-expiring first.",
    )
    redemption_count: Count

    def to_line(self) -> ReversalLine:
        return ReversalLine(
            promotion_id=self.promotion_id,
            earned_promotion_id=self.earned_promotion_id,
            redemption_count=self.redemption_count,
        )


class ReverseRequest(RestModel):
    """reverseRedemption's input without the redemption, which the path names."""

    reversal_identifier: Identifier = Field(
        description="Unique in the org: a repeat with the same content returns the recorded reversal."
    )
    reason: Annotated[StrictStr, WithJsonSchema(identifier_schema(MAX_REASON_LENGTH))] | None = None
    lines: list[ReversalLineBody] | None = Field(
        default=None,
        description="Leave out to reverse everything not yet reversed.",
        json_schema_extra={"minItems": 1, "maxItems": MAX_REVERSAL_LINES},
    )

    def to_command(self, redemption_id: str) -> ReverseRedemption:
        return ReverseRedemption(
            reversal_identifier=self.reversal_identifier,
            redemption_id=redemption_id,
            reason=self.reason,
            lines=[x.to_line() for x in self.lines] if self.lines is not None else None,
        )


# ---------------------------------------------------------------------------------------------
# Responses (documentation: the routes render the JSON themselves)


class ResponseModel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


class IssuedPromotion(ResponseModel):
    id: str
    customer_id: int = Field(json_schema_extra={"format": "int64"})
    promotion_id: str
    earned_from_id: str = Field(description="The contextId of the request.")
    event_time: int = Field(json_schema_extra={"format": "int64"})
    valid_till: int = Field(json_schema_extra={"format": "int64"})


class IssueBulkResponse(ResponseModel):
    data: dict[str, IssuedPromotion] = Field(
        description="One entry per distinct customer of the request, keyed by customer id: new and "
        "already-issued entries alike."
    )


class EventDetailsOut(ResponseModel):
    id: str
    type: str


class CustomerEarnedPromotion(ResponseModel):
    id: str
    customer_id: int = Field(json_schema_extra={"format": "int64"})
    promotion_id: str
    earned_from_type: EarnedFromType
    earned_from_id: str
    event_time: int = Field(json_schema_extra={"format": "int64"})
    event_time_iso: str = Field(alias="eventTimeISO")
    event_details: EventDetailsOut | None
    valid_till: int = Field(json_schema_extra={"format": "int64"})
    valid_till_iso: str = Field(alias="validTillISO")


class ErrorDetails(ResponseModel):
    error_code: int
    error_messages: str


class EarnResult(ResponseModel):
    earned_from_id: str
    promotion_id: str
    successful_earn_count: int
    failed_earn_count: int
    error_details: ErrorDetails | None = Field(
        default=None, description="Present only when failedEarnCount > 0."
    )
    customer_earned_promotions: list[CustomerEarnedPromotion]


class EarnBulkResponse(ResponseModel):
    data: list[EarnResult] = Field(description="One result per request entry, in request order.")
    errors: list[Any] = Field(description="Always empty on success; entry failures are in errorDetails.")


class WalletEntry(CustomerEarnedPromotion):
    status: EarnedPromotionStatus
    redemptions_allowed: int
    redemptions_used: int
    redemptions_held: int = Field(
        description="Counts reserved by live holds (DESIGN §8.2): not available to redemptions "
        "until released or expired."
    )
    redemptions_remaining: int = Field(
        description="allowed - used - held on LOCKED and UNLOCKED entries, 0 on REDEEMED, EXPIRED "
        "and REVOKED ones (DESIGN §8.6)."
    )
    redeemable: bool = Field(description="UNLOCKED with redemptions remaining: redeemable now.")
    valid_till_local: str = Field(
        description="validTill in the org's timezone, with its offset (2025-12-31T23:59:59.999+05:30)."
    )


class Wallet(ResponseModel):
    customer_id: int = Field(json_schema_extra={"format": "int64"})
    customer_earned_promotions: list[WalletEntry] = Field(description="Soonest-expiring first.")
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last page.")


class WalletResponse(ResponseModel):
    data: Wallet


class RedemptionOut(ResponseModel):
    promotion_id: str
    redemption_count: int
    discount: str = Field(description="6 decimals, e.g. 500.000000")
    discount_applied_on_quantity: str
    promotion_applied_on_quantity: str


class LineItemOut(RedemptionOut):
    sku: str | None
    earned_promotion_id: str | None


class ReversalLineOut(ResponseModel):
    promotion_id: str
    earned_promotion_id: str | None = Field(
        description="null for a POS or CODE promotion (no wallet effect)."
    )
    redemption_count: int


class ReversalOut(ResponseModel):
    id: str
    reversal_identifier: str
    redemption_id: str
    reason: str | None
    created_at: int = Field(json_schema_extra={"format": "int64"})
    created_at_iso: str = Field(alias="createdAtISO")
    lines: list[ReversalLineOut]


class RedemptionRecord(ResponseModel):
    org_id: int
    customer_identifier_value: str | None
    customer_identifier_type: str | None = Field(description="As sent (e.g. mobile).")
    customer_id: int = Field(json_schema_extra={"format": "int64"})
    transaction_identifier: str
    transaction_number: str
    transaction_date: int = Field(json_schema_extra={"format": "int64"})
    transaction_date_iso: str = Field(alias="transactionDateISO")
    amount: float
    redemptions: list[RedemptionOut]
    line_items: list[LineItemOut]
    id: str = Field(description="Not on the spec page: the id the reversals route takes.")
    status: RedemptionStatus = Field(description="Not on the spec page (DESIGN §8.1).")
    reversals: list[ReversalOut] = Field(description="Not on the spec page (DESIGN §8.1); oldest first.")


class RedeemResponse(ResponseModel):
    data: RedemptionRecord


class ReversalResult(ResponseModel):
    reversal: ReversalOut
    redemption: RedemptionRecord = Field(description="The redemption as it stands after the reversal.")


class ReverseResponse(ResponseModel):
    data: ReversalResult


class HoldRecord(ResponseModel):
    id: str = Field(description="The id the commit and release routes take.")
    status: HoldStatus
    customer_id: int = Field(json_schema_extra={"format": "int64"})
    transaction_identifier: str
    expires_at: int = Field(json_schema_extra={"format": "int64"})
    expires_at_iso: str = Field(alias="expiresAtISO")
    redemptions: list[RedemptionOut]
    line_items: list[LineItemOut]
    redemption: RedemptionRecord | None = Field(description="Once committed: the recorded redemption.")


class HoldResponse(ResponseModel):
    data: HoldRecord


# ---------------------------------------------------------------------------------------------
# The spec pages' examples (and, last, the reversal route's, which no spec page has)

ISSUE_REQUEST_EXAMPLES = {
    "one customer": {"summary": "One customer (issue-cart-promotion)", "value": [564332013]},
    "two customers": {"summary": "Two customers", "value": [566881933, 566135941]},
}
ISSUE_RESPONSE_EXAMPLE = {
    "data": {
        "564332013": {
            "id": "68230a3af1ebc84977d9ea2c",
            "customerId": 564332013,
            "promotionId": "67f3832ab206f929966adf81",
            "earnedFromId": "2 items in cart",
            "eventTime": 1747126842954,
            "validTill": 1748716199999,
        }
    }
}

EARN_REQUEST_EXAMPLE = {
    "orgId": 100737,
    "customerId": 566881933,
    "eventTime": 1761750000000,
    "earnedFromType": "BULK_ISSUE",
    "eventDetails": {"id": "6911e951f57b486147effa6c", "type": "BULK_ISSUE"},
    "earnedPromotions": [
        {
            "promotionId": "6912ced9d39e256f754a83f8",
            "earnCount": 1,
            "earnedFromId": "68fb1c9731d91c625a8d9e80",
        },
        {
            "promotionId": "6912cfff6629ee07040e15ef",
            "earnCount": 1,
            "earnedFromId": "68fb1c9731d91c625a8d9e80",
        },
    ],
}


def _earned(entry_id: str, promotion_id: str) -> dict[str, Any]:
    return {
        "id": entry_id,
        "customerId": 566881933,
        "promotionId": promotion_id,
        "earnedFromType": "BULK_ISSUE",
        "earnedFromId": "68fb1c9731d91c625a8d9e80",
        "eventTime": 1761750000000,
        "eventTimeISO": "2025-10-29T15:00:00Z",
        "eventDetails": {"id": "6911e951f57b486147effa6c", "type": "BULK_ISSUE"},
        "validTill": 1767205799999,
        # The spec page writes "2025-12-31T18:29:59Z", a different instant than its validTill: ours
        # keeps the milliseconds (DESIGN §8.6), so the text and the number name the same instant.
        "validTillISO": "2025-12-31T18:29:59.999Z",
    }


EARN_RESPONSE_EXAMPLE = {
    "data": [
        {
            "earnedFromId": "68fb1c9731d91c625a8d9e80",
            "promotionId": "6912cfff6629ee07040e15ef",
            "successfulEarnCount": 1,
            "failedEarnCount": 0,
            "customerEarnedPromotions": [_earned("6912d0256629ee07040e15f2", "6912cfff6629ee07040e15ef")],
        },
        {
            "earnedFromId": "68fb1c9731d91c625a8d9e80",
            "promotionId": "6912ced9d39e256f754a83f8",
            "successfulEarnCount": 1,
            "failedEarnCount": 0,
            "customerEarnedPromotions": [_earned("6912d0256629ee07040e15f1", "6912ced9d39e256f754a83f8")],
        },
    ],
    "errors": [],
}

REDEEM_REQUEST_EXAMPLE = {
    "customerIdentifierValue": "1234512345",
    "customerIdentifierType": "mobile",
    "customerId": "566881933",
    "transactionIdentifier": "txn-50",
    "transactionNumber": "txn-50",
    "transactionDate": 1743521508000,
    "amount": 1000,
    "lineItems": [
        {
            "sku": "Sku#Fuel",
            "promotionId": "67e3c1073919452f135e2da0",
            "earnedPromotionId": "67e63559e1c34e7d8e9348aa",
            "redemptionCount": 1,
            "discount": 500,
            "discountAppliedOnQuantity": 1,
            "promotionAppliedOnQuantity": 1,
        }
    ],
    "redemptions": [
        {
            "sku": "Sku#Fuel",
            "promotionId": "67e3c1073919452f135e2da0",
            "redemptionCount": 1,
            "discount": 500,
            "discountAppliedOnQuantity": 1,
            "promotionAppliedOnQuantity": 1,
        }
    ],
}
REDEEM_RESPONSE_EXAMPLE = {
    "data": {
        "orgId": 100737,
        "customerIdentifierValue": "1234512345",
        "customerIdentifierType": "mobile",
        "customerId": 566881933,
        "transactionIdentifier": "txn-50",
        "transactionNumber": "txn-50",
        "transactionDate": 1743521508000,
        "transactionDateISO": "2025-04-01T15:31:48Z",
        "amount": 1000.0,
        "redemptions": [
            {
                "promotionId": "67e3c1073919452f135e2da0",
                "redemptionCount": 1,
                "discount": "500.000000",
                "discountAppliedOnQuantity": "1.000000",
                "promotionAppliedOnQuantity": "1.000000",
            }
        ],
        "lineItems": [
            {
                "sku": "Sku#Fuel",
                "promotionId": "67e3c1073919452f135e2da0",
                "earnedPromotionId": "67e63559e1c34e7d8e9348aa",
                "redemptionCount": 1,
                "discount": "500.000000",
                "discountAppliedOnQuantity": "1.000000",
                "promotionAppliedOnQuantity": "1.000000",
            }
        ],
    }
}

WALLET_RESPONSE_EXAMPLE = {
    "data": {
        "customerId": 566881933,
        "customerEarnedPromotions": [
            _earned("6912d0256629ee07040e15f1", "6912ced9d39e256f754a83f8")
            | {
                "status": "UNLOCKED",
                "redemptionsAllowed": 1,
                "redemptionsUsed": 0,
                "redemptionsHeld": 0,
                "redemptionsRemaining": 1,
                "redeemable": True,
                "validTillLocal": "2025-12-31T23:59:59.999+05:30",
            }
        ],
        "nextCursor": "WzE3NjcyMDU3OTk5OTksIjY5MTJkMDI1NjYyOWVlMDcwNDBlMTVmMSJd",
    }
}

REVERSE_REQUEST_EXAMPLE = {
    "reversalIdentifier": "refund-txn-50",
    "reason": "order cancelled",
    "lines": [{"promotionId": "67e3c1073919452f135e2da0", "redemptionCount": 1}],
}
REVERSAL_EXAMPLE = {
    "id": "67f3a1c2b206f929966adf99",
    "reversalIdentifier": "refund-txn-50",
    "redemptionId": "67f3832ab206f929966adf81",
    "reason": "order cancelled",
    "createdAt": 1743600000000,
    "createdAtISO": "2025-04-02T13:20:00Z",
    "lines": [
        {
            "promotionId": "67e3c1073919452f135e2da0",
            "earnedPromotionId": "67e63559e1c34e7d8e9348aa",
            "redemptionCount": 1,
        }
    ],
}
REVERSE_RESPONSE_EXAMPLE = {
    "data": {
        "reversal": REVERSAL_EXAMPLE,
        "redemption": REDEEM_RESPONSE_EXAMPLE["data"]
        | {"id": "67f3832ab206f929966adf81", "status": "REVERSED", "reversals": [REVERSAL_EXAMPLE]},
    }
}
HOLD_REQUEST_EXAMPLE = REDEEM_REQUEST_EXAMPLE | {"holdSeconds": 900}
HOLD_RESPONSE_EXAMPLE = {
    "data": {
        "id": "67f3832ab206f929966adf90",
        "status": "HELD",
        "customerId": 566881933,
        "transactionIdentifier": REDEEM_REQUEST_EXAMPLE["transactionIdentifier"],
        "expiresAt": 1743522408000,
        "expiresAtISO": "2025-04-01T15:46:48Z",
        "redemptions": REDEEM_RESPONSE_EXAMPLE["data"]["redemptions"],
        "lineItems": REDEEM_RESPONSE_EXAMPLE["data"]["lineItems"],
        "redemption": None,
    }
}
