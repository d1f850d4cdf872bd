"""GraphQL error types (DESIGN §4) and the one table that maps domain errors onto them."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypedDict, TypeVar

import strawberry

from app.domain import errors as domain
from app.graphql.scalars import Long

# strawberry.enum marks the domain enum itself as the GraphQL enum; the alias is what mypy checks.
NotRedeemableReason = domain.NotRedeemableReason
strawberry.enum(NotRedeemableReason, name="NotRedeemableReason")


@strawberry.interface(name="Error")
class Error:
    code: int
    message: str
    retryable: bool


@strawberry.type
class InvalidRequestError(Error):
    field: str | None = None


@strawberry.type
class EarnLimitExceededError(Error):
    pass


@strawberry.type
class PromotionNotRedeemableError(Error):
    reason: NotRedeemableReason


@strawberry.type
class PromotionNotFoundError(Error):
    pass


@strawberry.type
class CustomerNotFoundError(Error):
    customer_ids: list[Long]


@strawberry.type
class EarnedPromotionNotFoundError(Error):
    pass


@strawberry.type
class RedemptionNotFoundError(Error):
    pass


@strawberry.type
class ReversalExceedsRedemptionError(Error):
    pass


@strawberry.type
class HoldNotFoundError(Error):
    pass


@strawberry.type
class HoldExpiredError(Error):
    pass


@strawberry.type
class IssueJobNotFoundError(Error):
    pass


@strawberry.type
class RedemptionWithoutEvaluationDisabledError(Error):
    pass


@strawberry.type
class InvalidWebEngageAccountError(Error):
    pass


@strawberry.type
class InternalError(Error):
    pass


@strawberry.type
class ResourceLockedError(Error):
    retry_after_ms: int | None = None


@strawberry.type
class MaxActivePromotionsExceededError(Error):
    limit: int | None = None


@strawberry.type
class PromotionExpiredError(Error):
    pass


@strawberry.type
class PromotionTypeNotSupportedError(Error):
    pass


@strawberry.type
class EarnedFromTypeChangedError(Error):
    pass


@strawberry.type
class EarnNotSupportedError(Error):
    pass


@strawberry.type
class InvalidCustomerIdentifierError(Error):
    indexes: list[int] = strawberry.field(default_factory=list)


@strawberry.type
class CustomerLookupFailedError(Error):
    pass


class _Base(TypedDict):
    code: int
    message: str
    retryable: bool


def _base(error: domain.DomainError) -> _Base:
    return {"code": int(error.code), "message": error.message, "retryable": error.retryable}


E = TypeVar("E", bound=domain.DomainError)


def _maps(
    kind: type[E], build: Callable[[E], Error]
) -> tuple[type[domain.DomainError], Callable[[domain.DomainError], Error]]:
    """One row of the table: `build` reads the fields of its own kind of domain error."""

    def convert(error: domain.DomainError) -> Error:
        assert isinstance(error, kind)  # the table is keyed by kind
        return build(error)

    return kind, convert


_MAPPING: dict[type[domain.DomainError], Callable[[domain.DomainError], Error]] = dict(
    [
        _maps(domain.InvalidRequest, lambda e: InvalidRequestError(**_base(e), field=e.field)),
        _maps(domain.EarnLimitExceeded, lambda e: EarnLimitExceededError(**_base(e))),
        _maps(
            domain.PromotionNotRedeemable,
            lambda e: PromotionNotRedeemableError(**_base(e), reason=e.reason),
        ),
        _maps(domain.PromotionNotFound, lambda e: PromotionNotFoundError(**_base(e))),
        _maps(
            domain.CustomerNotFound,
            lambda e: CustomerNotFoundError(**_base(e), customer_ids=e.customer_ids),
        ),
        _maps(domain.EarnedPromotionNotFound, lambda e: EarnedPromotionNotFoundError(**_base(e))),
        _maps(domain.RedemptionNotFound, lambda e: RedemptionNotFoundError(**_base(e))),
        _maps(domain.ReversalExceedsRedemption, lambda e: ReversalExceedsRedemptionError(**_base(e))),
        _maps(domain.HoldNotFound, lambda e: HoldNotFoundError(**_base(e))),
        _maps(domain.HoldExpired, lambda e: HoldExpiredError(**_base(e))),
        _maps(domain.IssueJobNotFound, lambda e: IssueJobNotFoundError(**_base(e))),
        _maps(
            domain.RedemptionWithoutEvaluationDisabled,
            lambda e: RedemptionWithoutEvaluationDisabledError(**_base(e)),
        ),
        _maps(domain.InvalidWebEngageAccount, lambda e: InvalidWebEngageAccountError(**_base(e))),
        _maps(domain.InternalFailure, lambda e: InternalError(**_base(e))),
        _maps(
            domain.ResourceLocked,
            lambda e: ResourceLockedError(**_base(e), retry_after_ms=e.retry_after_ms),
        ),
        _maps(
            domain.MaxActivePromotionsExceeded,
            lambda e: MaxActivePromotionsExceededError(**_base(e), limit=e.limit),
        ),
        _maps(domain.PromotionExpired, lambda e: PromotionExpiredError(**_base(e))),
        _maps(domain.PromotionTypeNotSupported, lambda e: PromotionTypeNotSupportedError(**_base(e))),
        _maps(domain.EarnedFromTypeChanged, lambda e: EarnedFromTypeChangedError(**_base(e))),
        _maps(domain.EarnNotSupported, lambda e: EarnNotSupportedError(**_base(e))),
        _maps(
            domain.InvalidCustomerIdentifier,
            lambda e: InvalidCustomerIdentifierError(**_base(e), indexes=e.indexes),
        ),
        _maps(domain.CustomerLookupFailed, lambda e: CustomerLookupFailedError(**_base(e))),
    ]
)

ALL_ERROR_TYPES: tuple[type[Error], ...] = (
    InvalidRequestError,
    EarnLimitExceededError,
    PromotionNotRedeemableError,
    PromotionNotFoundError,
    CustomerNotFoundError,
    EarnedPromotionNotFoundError,
    RedemptionNotFoundError,
    ReversalExceedsRedemptionError,
    HoldNotFoundError,
    HoldExpiredError,
    RedemptionWithoutEvaluationDisabledError,
    InvalidWebEngageAccountError,
    InternalError,
    ResourceLockedError,
    MaxActivePromotionsExceededError,
    PromotionExpiredError,
    PromotionTypeNotSupportedError,
    EarnedFromTypeChangedError,
    EarnNotSupportedError,
    InvalidCustomerIdentifierError,
    CustomerLookupFailedError,
    IssueJobNotFoundError,
)


def to_graphql_error(error: domain.DomainError) -> Error:
    for kind in type(error).__mro__:  # a refinement (paging's InvalidPage) maps as its base
        if kind in _MAPPING:
            return _MAPPING[kind](error)
    raise TypeError(f"no GraphQL error type for {type(error).__name__}")


def internal_error() -> InternalError:
    return InternalError(
        code=500, message="Internal error; it has been logged. Retry shortly.", retryable=True
    )
