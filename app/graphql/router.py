"""The /graphql route: authenticates every operation; only the IDE page itself is open.

Subscriptions (graphql-transport-ws on the same path) authenticate like HTTP (DESIGN §8.4): the
`Authorization` header of the upgrade request, or else an `Authorization` key in the
`connection_init` payload (browsers cannot set headers on a WebSocket). A connection with neither,
or with credentials that fail, is closed with 4403 before any operation runs."""

from __future__ import annotations

import logging
from typing import Any

import orjson
from fastapi import Request
from fastapi.responses import JSONResponse
from starlette.requests import HTTPConnection
from strawberry.exceptions import ConnectionRejectionError
from strawberry.fastapi import BaseContext
from strawberry.http import GraphQLRequestData
from strawberry.types.unset import UNSET

from app.auth.authenticator import AuthenticationFailed, Authenticator, TooManyFailures
from app.auth.routes import WWW_AUTHENTICATE
from app.domain.clock import now_ms
from app.domain.errors import ResourceLocked
from app.domain.text import UNSTORABLE_TEXT_MESSAGE, has_unstorable_text
from app.graphql.context import Context
from app.graphql.extensions import request_id_for, vouch_for_json_body
from app.graphql.limits import DocumentTooLarge, document_exceeds, raw_query_certainly_exceeds
from app.graphql.schema import schema
from app.http_limits import MalformedBody, decode_json_body, url_is_utf8
from app.http_rate_limit import RATE_LIMITED_CODE, RateLimited, RateLimiter
from app.ide.page import OfflineGraphQLRouter
from app.observability.metrics import RATE_LIMITED
from app.settings import Settings

logger = logging.getLogger("app.graphql")


class GraphQLUnauthenticated(Exception):
    """A sign-in on /graphql refused before any operation: no or bad credentials (401), too many
    failures (429), the counter store too busy (503). Answered by `unauthenticated_response`
    (main.py wires it) in a body a GraphQL client reads like any other refusal."""

    def __init__(
        self,
        message: str,
        *,
        status: int = 401,
        code: str = "UNAUTHENTICATED",
        headers: dict[str, str] | None = None,
        extensions: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.extensions = {"code": code} | (extensions or {})
        self.headers = headers if headers is not None else {"WWW-Authenticate": WWW_AUTHENTICATE}


async def unauthenticated_response(request: Request, error: Exception) -> JSONResponse:
    """`errors[0].extensions.code` (UNAUTHENTICATED, TOO_MANY_FAILED_SIGN_INS, RESOURCE_LOCKED)
    with the status and headers of the refusal (not FastAPI's `{"detail": ...}`)."""
    assert isinstance(error, GraphQLUnauthenticated)
    return _refusal(error.status, str(error), error.extensions, error.headers)


def _wants_ide(request: HTTPConnection) -> bool:
    return (
        isinstance(request, Request)
        and request.method == "GET"
        and "text/html" in request.headers.get("accept", "")
        and ("query" not in request.query_params)
    )


def _client_address(request: HTTPConnection) -> str | None:
    return request.client.host if request.client else None


async def get_context(request: HTTPConnection) -> Context:
    settings: Settings = request.app.state.settings
    authenticator: Authenticator = request.app.state.authenticator
    principal = None
    if request.scope["type"] == "websocket":
        if "authorization" in request.headers:
            try:
                principal = await authenticator.authenticate(
                    request.headers["authorization"], _client_address(request)
                )
            except (AuthenticationFailed, ResourceLocked):
                principal = None  # refused at connection_init (GatewayGraphQLRouter.on_ws_connect)
    elif not (_wants_ide(request) and settings.graphql_ide and "authorization" not in request.headers):
        try:
            principal = await authenticator.authenticate(
                request.headers.get("authorization"), _client_address(request)
            )
        except TooManyFailures as exc:
            raise GraphQLUnauthenticated(
                str(exc),
                status=429,
                code="TOO_MANY_FAILED_SIGN_INS",
                headers={"Retry-After": str(exc.retry_after_s)},
                extensions={"retryAfterSeconds": exc.retry_after_s},
            ) from exc
        except AuthenticationFailed as exc:
            raise GraphQLUnauthenticated(str(exc)) from exc
        except ResourceLocked as exc:  # every pooled connection busy: retry, as after a 521
            wait_ms = exc.retry_after_ms or 1000
            raise GraphQLUnauthenticated(
                exc.message,
                status=503,
                code="RESOURCE_LOCKED",
                headers={"Retry-After": str(max(1, -(-wait_ms // 1000)))},
                extensions={"errorCode": int(exc.code), "retryable": True, "retryAfterMs": wait_ms},
            ) from exc
    return Context(
        uow_factory=request.app.state.uow_factory,
        settings=settings,
        authenticator=authenticator,
        principal=principal,
        now=now_ms(),
    )


def _refusal(
    status: int, message: str, extensions: dict[str, Any], headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(
        {"data": None, "errors": [{"message": message, "extensions": extensions}]},
        status_code=status,
        headers=headers,
    )


class GatewayGraphQLRouter(OfflineGraphQLRouter):
    """Signs WebSocket connections in at connection_init (`on_ws_connect`), and refuses, as JSON
    client errors and before anything runs: a caller past its rate limit (429), a body that is not
    UTF-8 JSON or nests too deep (400), a document over `max_document_bytes` (413, before the
    lexer sees it)."""

    def __init__(self, *args: Any, max_document_bytes: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._max_document_bytes = max_document_bytes

    def encode_json(self, data: object) -> str | bytes:
        # orjson writes a wallet page's answer several times faster than json.dumps; what it
        # refuses (an integer beyond 64 bits, a lone surrogate in a message) goes the stock way.
        # Text, not bytes: the WebSocket adapter sends bytes as binary frames, which
        # graphql-transport-ws clients do not read.
        try:
            return orjson.dumps(data).decode()
        except TypeError:
            return super().encode_json(data)

    def decode_json(self, data: str | bytes) -> object:
        if not isinstance(data, bytes):  # a query string's variables or extensions
            return decode_json_body(data)
        raw_size = raw_query_certainly_exceeds(data, self._max_document_bytes)
        if raw_size is not None:
            raise DocumentTooLarge(raw_size, self._max_document_bytes)
        decoded = decode_json_body(data)
        vouch_for_json_body(data, decoded)
        return decoded

    async def on_ws_connect(self, context: BaseContext | dict[str, Any]) -> None:
        assert isinstance(context, Context)  # get_context makes every context
        if context.maybe_principal is not None:
            return
        params: dict[str, Any] = context.connection_params or {}
        authorization = params.get("Authorization", params.get("authorization"))
        if not isinstance(authorization, str):
            raise ConnectionRejectionError({"message": "Credentials are required"})
        connection = context.request
        address = _client_address(connection) if isinstance(connection, HTTPConnection) else None
        try:  # throttled like any sign-in: connection_init must not be a way to guess secrets
            context.sign_in(await context.authenticator.authenticate(authorization, address))
        except (AuthenticationFailed, ResourceLocked) as exc:
            raise ConnectionRejectionError({"message": str(exc)}) from exc

    async def parse_http_body(self, request: Any) -> GraphQLRequestData | list[GraphQLRequestData]:
        parsed = await super().parse_http_body(request)
        for item in parsed if isinstance(parsed, list) else [parsed]:
            # Variables are the UnstorableTextGuard's (a GraphQL error); these parts never reach it,
            # and Strawberry echoes an unknown operationName into a plain-text answer it cannot encode.
            if has_unstorable_text([item.operation_name, item.extensions]):
                raise MalformedBody(UNSTORABLE_TEXT_MESSAGE)
            query = item.query
            if isinstance(query, str) and document_exceeds(query, self._max_document_bytes):
                raise DocumentTooLarge(len(query.encode("utf-8", "surrogatepass")), self._max_document_bytes)
        return parsed

    async def run(self, request: Any, context: Any = UNSET, root_value: Any = UNSET) -> Any:
        principal = getattr(context, "maybe_principal", None)
        if principal is not None and isinstance(request, Request):
            limiter: RateLimiter = request.app.state.rate_limiter
            try:
                await limiter.check(principal.client_id, request)
            except RateLimited as limited:
                RATE_LIMITED.inc()
                extensions = {"code": RATE_LIMITED_CODE, "retryAfterSeconds": limited.budget.reset_seconds}
                return _refusal(429, str(limited), extensions, limited.headers)
            except ResourceLocked as busy:
                wait_ms = busy.retry_after_ms or 1000
                extensions = {"code": "RESOURCE_LOCKED", "errorCode": int(busy.code), "retryable": True}
                headers = {"Retry-After": str(max(1, -(-wait_ms // 1000)))}
                return _refusal(503, busy.message, extensions | {"retryAfterMs": wait_ms}, headers)
        try:
            if isinstance(request, Request) and not url_is_utf8(request.scope):
                raise MalformedBody("the query string is not UTF-8 once percent-decoded")
            return await super().run(request, context, root_value)
        except MalformedBody as malformed:
            request_id = request_id_for(request)
            logger.info("refused a malformed GraphQL body (request %s): %s", request_id, malformed)
            message = str(malformed)
            return _refusal(
                400, message[0].upper() + message[1:], {"code": "BAD_REQUEST", "requestId": request_id}
            )
        except DocumentTooLarge as large:
            logger.info("refused a GraphQL document of %d bytes", large.size)
            extensions = {"code": "DOCUMENT_TOO_LARGE", "size": large.size, "maxBytes": large.max_bytes}
            return _refusal(413, str(large), extensions)


def create_graphql_router(settings: Settings) -> OfflineGraphQLRouter:
    return GatewayGraphQLRouter(  # GraphiQL from this service's own assets, not a CDN
        schema,
        context_getter=get_context,
        graphql_ide="graphiql" if settings.graphql_ide else None,
        allow_queries_via_get=True,
        max_document_bytes=settings.max_document_bytes,
    )
