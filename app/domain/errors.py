"""Every expected failure of the service, with its documented code (DESIGN §4).

Services raise these (or return them, for per-entry results); the GraphQL and REST layers
map each class to their own representation in one table each.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import IntEnum, StrEnum
from typing import ClassVar


class ErrorCode(IntEnum):
    INVALID_REQUEST = 400
    NOT_FOUND = 404
    REDEMPTION_WITHOUT_EVALUATION_DISABLED = 405
    INVALID_WEB_ENGAGE_ACCOUNT = 406
    INTERNAL = 500
    RESOURCE_LOCKED = 521
    MAX_ACTIVE_PROMOTIONS_EXCEEDED = 705
    PROMOTION_EXPIRED = 706
    PROMOTION_TYPE_NOT_SUPPORTED = 707
    EARNED_FROM_TYPE_CHANGED = 713
    EARN_NOT_SUPPORTED = 714
    INVALID_CUSTOMER_IDENTIFIER = 1006
    CUSTOMER_LOOKUP_FAILED = 1007


class NotRedeemableReason(StrEnum):
    NOT_EARNED = "NOT_EARNED"
    LOCKED = "LOCKED"
    EXPIRED = "EXPIRED"
    ALREADY_REDEEMED = "ALREADY_REDEEMED"
    REVOKED = "REVOKED"
    HELD = "HELD"  # what is left is reserved by live holds


class DomainError(Exception):
    code: ClassVar[ErrorCode]
    retryable: ClassVar[bool] = False

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other) and vars(self) == vars(other)

    def __hash__(self) -> int:
        return hash((type(self), self.message))


class InvalidRequest(DomainError):
    code = ErrorCode.INVALID_REQUEST

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class EarnLimitExceeded(DomainError):
    code = ErrorCode.INVALID_REQUEST


class PromotionNotRedeemable(DomainError):
    code = ErrorCode.INVALID_REQUEST

    def __init__(self, message: str, reason: NotRedeemableReason) -> None:
        super().__init__(message)
        self.reason = reason


class PromotionNotFound(DomainError):
    code = ErrorCode.NOT_FOUND


class CustomerNotFound(DomainError):
    code = ErrorCode.NOT_FOUND

    def __init__(self, message: str, customer_ids: Sequence[int] = ()) -> None:
        super().__init__(message)
        self.customer_ids = list(customer_ids)


class EarnedPromotionNotFound(DomainError):
    code = ErrorCode.NOT_FOUND


class RedemptionNotFound(DomainError):
    """No redemption of the caller's org by that id or transactionIdentifier (another org's is
    not found either)."""

    code = ErrorCode.NOT_FOUND


class ReversalExceedsRedemption(DomainError):
    """More to reverse than the redemption has left (per promotion or entry), a promotion or entry
    it did not consume, or a redemption already fully reversed."""

    code = ErrorCode.INVALID_REQUEST


class HoldNotFound(DomainError):
    """No hold of the caller's org by that id (another org's is not found either)."""

    code = ErrorCode.NOT_FOUND


class HoldExpired(DomainError):
    """Committing a hold that is past its expiresAt or was released: its counts are free again."""

    code = ErrorCode.INVALID_REQUEST


class IssueJobNotFound(DomainError):
    """An unknown issue job, or another org's (DESIGN §8.4)."""

    code = ErrorCode.NOT_FOUND


class RedemptionWithoutEvaluationDisabled(DomainError):
    code = ErrorCode.REDEMPTION_WITHOUT_EVALUATION_DISABLED


class InvalidWebEngageAccount(DomainError):
    code = ErrorCode.INVALID_WEB_ENGAGE_ACCOUNT


class InternalFailure(DomainError):
    code = ErrorCode.INTERNAL
    retryable = True


class ResourceLocked(DomainError):
    code = ErrorCode.RESOURCE_LOCKED
    retryable = True

    def __init__(self, message: str, retry_after_ms: int | None = None) -> None:
        super().__init__(message)
        self.retry_after_ms = retry_after_ms


class MaxActivePromotionsExceeded(DomainError):
    code = ErrorCode.MAX_ACTIVE_PROMOTIONS_EXCEEDED

    def __init__(self, message: str, limit: int | None = None) -> None:
        super().__init__(message)
        self.limit = limit


class PromotionExpired(DomainError):
    code = ErrorCode.PROMOTION_EXPIRED


class PromotionTypeNotSupported(DomainError):
    code = ErrorCode.PROMOTION_TYPE_NOT_SUPPORTED


class EarnedFromTypeChanged(DomainError):
    code = ErrorCode.EARNED_FROM_TYPE_CHANGED


class EarnNotSupported(DomainError):
    code = ErrorCode.EARN_NOT_SUPPORTED


class InvalidCustomerIdentifier(DomainError):
    code = ErrorCode.INVALID_CUSTOMER_IDENTIFIER

    def __init__(self, message: str, indexes: Sequence[int] = ()) -> None:
        super().__init__(message)
        self.indexes = list(indexes)


class CustomerLookupFailed(DomainError):
    code = ErrorCode.CUSTOMER_LOOKUP_FAILED
    retryable = True


class AlreadyExists(Exception):
    """A write met a row that a uniqueness rule says may exist only once (raised by a unit of work
    in place of its database's own error). Not a DomainError: the service that wrote decides what
    it means (a replay, a concurrent duplicate), and the transaction is already rolled back."""
