"""The shared shape of a mutation resolver: call one service, turn a domain error into its
GraphQL error type, and anything unexpected into a logged, masked InternalError."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, TypeVar, cast, get_args

from app.domain.errors import DomainError
from app.graphql.errors import Error, internal_error, to_graphql_error
from app.services.idempotency import note_retryable_outcome

if TYPE_CHECKING:
    from typing_extensions import TypeForm

logger = logging.getLogger("app.graphql")

R = TypeVar("R")
P = TypeVar("P")


async def run_mutation(payload: TypeForm[P], call: Awaitable[R], to_success: Callable[[R], P]) -> P:
    """`payload` is the mutation's `Annotated[Success | XError | ..., strawberry.union(...)]`: mypy
    checks `to_success` against it, and an error outside it is logged and answered as InternalError
    (which every payload lists), never handed to Strawberry as a type its union cannot resolve."""
    try:
        result = await call
    except DomainError as error:
        if error.retryable:  # a 521 or 500 in a 200: an Idempotency-Key must not keep it
            note_retryable_outcome()
        return _as_member(payload, to_graphql_error(error))
    except Exception:
        logger.exception("mutation failed unexpectedly")
        note_retryable_outcome()
        return _as_member(payload, internal_error())
    return to_success(result)


def payload_members(payload: object) -> tuple[type, ...]:
    """The member types of `Annotated[A | B | ..., strawberry.union(...)]`."""
    union, *_ = get_args(payload)
    return get_args(union)


def _as_member(payload: TypeForm[P], error: Error) -> P:
    members = payload_members(payload)
    if not isinstance(error, members):
        logger.error("%s is not a member of %s; answered as InternalError", type(error).__name__, payload)
        note_retryable_outcome()
        error = internal_error()
    # A member of the union, checked above (InternalError is one of every payload: a test pins it).
    return cast("P", error)
