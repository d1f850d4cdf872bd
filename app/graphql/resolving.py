"""The shared shape of a mutation resolver: call one service, turn a domain error into its
GraphQL error type, and anything unexpected into a logged, masked InternalError."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from app.domain.errors import DomainError
from app.graphql.errors import Error, internal_error, to_graphql_error

logger = logging.getLogger("app.graphql")

R = TypeVar("R")
S = TypeVar("S")


async def run_mutation(call: Awaitable[R], to_success: Callable[[R], S]) -> S | Error:
    try:
        result = await call
    except DomainError as error:
        return to_graphql_error(error)
    except Exception:
        logger.exception("mutation failed unexpectedly")
        return internal_error()
    return to_success(result)
