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


async def authorize(request: Request, scope: Scope, org_header: str | None) -> Principal:
    """The caller of a REST request, counted by the rate limit, with `scope`: the whole check,
    called by `requires`' dependency and by the routes' direct path (routes.py `RestRoute`)."""
    authenticator: Authenticator = request.app.state.authenticator
    client = request.scope.get("client")
    try:
        caller = await authenticator.authenticate(
            request.headers.get("authorization"), client[0] if client else None
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
    request.scope[_AUTHORIZED] = (scope, caller)
    return caller


# The caller `authorize` let in, on the request's scope: when the direct path hands a request on
# to FastAPI's own handling (a parameter it does not read), the dependency below returns it
# instead of authenticating and counting the request a second time.
_AUTHORIZED = "promo_wallet.rest.authorized"

_required_scopes: dict[Callable[..., Awaitable[Principal]], Scope] = {}


def required_scope(dependency: Callable[..., object] | None) -> Scope | None:
    """The scope a dependency made by `requires` checks, or None for any other callable."""
    return _required_scopes.get(dependency) if dependency is not None else None  # type: ignore[arg-type]


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
        authorized = request.scope.get(_AUTHORIZED)
        if authorized is not None and authorized[0] is scope:
            return authorized[1]
        return await authorize(request, scope, org_header)

    _required_scopes[principal] = scope
    return principal
