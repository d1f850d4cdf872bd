"""Who is calling a REST route: the same credentials as /graphql (Basic or Bearer, through
`app.state.authenticator`), then the route's scope, then the optional X-CAP-API-AUTH-ORG-ID.

Order: no or bad credentials → 401 (with WWW-Authenticate); missing scope → 403 (code 403);
an X-CAP-API-AUTH-ORG-ID that is not the caller's org → 400 (code 400), like a body `orgId`
that is not the caller's org on bulk earn: the caller named the org itself, and the answer never
says whether that org exists.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Header, Request, Security
from fastapi.security import HTTPBasic, HTTPBearer
from pydantic import WithJsonSchema

from app.auth.authenticator import AuthenticationFailed, Authenticator, TooManyFailures
from app.domain.models import Principal, Scope
from app.http_rate_limit import RateLimited, RateLimiter
from app.observability.metrics import RATE_LIMITED
from app.rest.errors import FORBIDDEN, TOO_MANY_REQUESTS, RestError

ORG_HEADER = "X-CAP-API-AUTH-ORG-ID"


class _DocumentedBasic(HTTPBasic):
    """Only puts the scheme into the OpenAPI document; the Authenticator checks the header."""

    async def __call__(self, request: Request) -> None:  # type: ignore[override]
        return None


class _DocumentedBearer(HTTPBearer):
    async def __call__(self, request: Request) -> None:  # type: ignore[override]
        return None


_basic = _DocumentedBasic(scheme_name="basicAuth", description="API client username and secret")
_bearer = _DocumentedBearer(scheme_name="bearerAuth", description="Access token from POST /oauth/token")


def requires(scope: Scope) -> Callable[..., Awaitable[Principal]]:
    async def principal(
        request: Request,
        org_header: Annotated[
            str | None,
            Header(
                alias=ORG_HEADER,
                description="Optional. When sent, it must be the org of the credentials (else 400).",
                examples=["100737"],
            ),
            # Optional, but never null (a header has no null): a string whenever it is sent.
            WithJsonSchema({"type": "string", "examples": ["100737"]}),
        ] = None,
        _basic_scheme: Annotated[None, Security(_basic)] = None,
        _bearer_scheme: Annotated[None, Security(_bearer)] = None,
    ) -> Principal:
        authenticator: Authenticator = request.app.state.authenticator
        try:
            caller = await authenticator.authenticate(
                request.headers.get("authorization"), request.client.host if request.client else None
            )
        except TooManyFailures as exc:
            retry = {"Retry-After": str(exc.retry_after_s)}
            raise RestError(TOO_MANY_REQUESTS, str(exc), headers=retry) from exc
        except AuthenticationFailed as exc:
            raise RestError.unauthorized(str(exc)) from exc
        # Counted once the caller is known, before its scope, its body or anything else is looked at.
        limiter: RateLimiter = request.app.state.rate_limiter
        try:
            await limiter.check(caller.client_id, request)
        except RateLimited as limited:
            RATE_LIMITED.inc()
            raise RestError(TOO_MANY_REQUESTS, str(limited), headers=limited.headers) from limited
        if not caller.has(scope):
            raise RestError(FORBIDDEN, f"This operation needs the {scope.value!r} scope")
        if org_header is not None and org_header.strip() != str(caller.org_id):
            raise RestError.invalid(f"{ORG_HEADER} must be the org of the credentials, or omitted")
        return caller

    return principal
