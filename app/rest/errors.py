"""The REST error shape and the one table from error code to HTTP status.

Every failure of a REST route is `{"errors": [{"code": N, "message": "..."}]}`, the shape of the
spec pages. Domain errors keep their documented code; the HTTP status comes from `HTTP_STATUS`.
Codes 404, 405 and 406 are answered with the HTTP status of the same number, as the spec system
does, so that integrations written against it keep working when only the host name changes.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence

from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from app.auth.routes import WWW_AUTHENTICATE
from app.domain.errors import DomainError, ErrorCode, ResourceLocked
from app.domain.paging import InvalidPage, PageArgument

logger = logging.getLogger("app.rest")

# Codes that are not domain errors: authentication and authorisation of the REST caller.
UNAUTHORIZED = 401
FORBIDDEN = 403
# Codes of the HTTP layer's own refusals: a body that is not JSON, a caller past its rate limit.
UNSUPPORTED_MEDIA_TYPE = 415
TOO_MANY_REQUESTS = 429

HTTP_STATUS: Mapping[int, int] = {
    ErrorCode.INVALID_REQUEST: 400,
    UNAUTHORIZED: 401,
    FORBIDDEN: 403,
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.REDEMPTION_WITHOUT_EVALUATION_DISABLED: 405,
    ErrorCode.INVALID_WEB_ENGAGE_ACCOUNT: 406,
    ErrorCode.INTERNAL: 500,
    ErrorCode.RESOURCE_LOCKED: 503,
    ErrorCode.MAX_ACTIVE_PROMOTIONS_EXCEEDED: 400,
    ErrorCode.PROMOTION_EXPIRED: 400,
    ErrorCode.PROMOTION_TYPE_NOT_SUPPORTED: 400,
    ErrorCode.EARNED_FROM_TYPE_CHANGED: 400,
    ErrorCode.EARN_NOT_SUPPORTED: 400,
    ErrorCode.INVALID_CUSTOMER_IDENTIFIER: 400,
    ErrorCode.CUSTOMER_LOOKUP_FAILED: 503,
    UNSUPPORTED_MEDIA_TYPE: 415,
    TOO_MANY_REQUESTS: 429,
}
# Seconds to wait before retrying a retryable error when the error names no time of its own.
DEFAULT_RETRY_AFTER_SECONDS = 1
INTERNAL_MESSAGE = "Internal error; it has been logged. Retry shortly."


class ErrorEntry(BaseModel):
    code: int = Field(description="The documented error code (see the table in the README).")
    message: str


class ErrorResponse(BaseModel):
    errors: list[ErrorEntry]


class RestError(Exception):
    """A failure found by the REST layer itself (authentication, scopes, the request's shape)."""

    def __init__(self, code: int, message: str, *, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.headers = dict(headers or {})

    @classmethod
    def unauthorized(cls, message: str) -> RestError:
        return cls(UNAUTHORIZED, message, headers={"WWW-Authenticate": WWW_AUTHENTICATE})

    @classmethod
    def invalid(cls, message: str) -> RestError:
        return cls(ErrorCode.INVALID_REQUEST, message)


def error_response(code: int, message: str, headers: Mapping[str, str] | None = None) -> JSONResponse:
    return JSONResponse(
        {"errors": [{"code": int(code), "message": message}]},
        status_code=HTTP_STATUS.get(code, 500),
        headers=dict(headers or {}),
    )


def rest_error_response(error: RestError) -> JSONResponse:
    return error_response(error.code, error.message, error.headers)


def internal_error_response() -> JSONResponse:
    return error_response(ErrorCode.INTERNAL, INTERNAL_MESSAGE)


# How the REST routes call the paging arguments (domain/paging.py names none).
PAGE_ARGUMENTS = {PageArgument.SIZE: "limit", PageArgument.CURSOR: "cursor"}


def domain_error_response(error: DomainError) -> JSONResponse:
    if isinstance(error, InvalidPage):
        error = error.named(PAGE_ARGUMENTS)
    if error.code == ErrorCode.INTERNAL:
        # Its message may name internals; the details go to the log only.
        logger.error("request failed: %s", error.message)
        return internal_error_response()
    headers: dict[str, str] = {}
    if HTTP_STATUS.get(error.code) == 503:
        wait_ms = error.retry_after_ms if isinstance(error, ResourceLocked) else None
        seconds = math.ceil(wait_ms / 1000) if wait_ms else DEFAULT_RETRY_AFTER_SECONDS
        headers["Retry-After"] = str(max(seconds, DEFAULT_RETRY_AFTER_SECONDS))
    if error.code == ErrorCode.REDEMPTION_WITHOUT_EVALUATION_DISABLED:
        headers["Allow"] = "POST"  # RFC 9110 wants it on every 405; the method itself is fine
    return error_response(error.code, error.message, headers)


def location_text(location: Sequence[int | str]) -> str:
    """("lineItems", 0, "discount") -> "lineItems[0].discount"."""
    text = ""
    for part in location:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text or "body"


def validation_message(errors: Sequence[Mapping[str, object]], *, drop_prefix: bool = False) -> str:
    """The first few pydantic/FastAPI validation errors as one line."""
    parts = []
    for error in errors[:3]:
        location = list(error.get("loc", ()))  # type: ignore[call-overload]
        if drop_prefix and location and location[0] in ("body", "query", "path", "header"):
            location = location[1:]
        parts.append(f"{location_text(location)}: {error.get('msg', 'invalid')}")
    more = f" (and {len(errors) - 3} more)" if len(errors) > 3 else ""
    return "; ".join(parts) + more
