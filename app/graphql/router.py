"""The /graphql route: authenticates every operation; only the IDE page itself is open.

Subscriptions (graphql-transport-ws on the same path) authenticate like HTTP (DESIGN §8.4): the
`Authorization` header of the upgrade request, or else an `Authorization` key in the
`connection_init` payload (browsers cannot set headers on a WebSocket). A connection with neither,
or with credentials that fail, is closed with 4403 before any operation runs."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse
from starlette.requests import HTTPConnection
from strawberry.exceptions import ConnectionRejectionError
from strawberry.fastapi import BaseContext

from app.auth.authenticator import AuthenticationFailed, Authenticator
from app.auth.routes import WWW_AUTHENTICATE
from app.domain.clock import now_ms
from app.graphql.context import Context
from app.graphql.schema import schema
from app.ide.page import OfflineGraphQLRouter
from app.settings import Settings


class GraphQLUnauthenticated(Exception):
    """No or bad credentials on /graphql: answered by `unauthenticated_response` (main.py wires it)."""


async def unauthenticated_response(request: Request, error: Exception) -> JSONResponse:
    """HTTP 401 with `WWW-Authenticate`, and a body a GraphQL client reads like any other refusal:
    `errors[0].extensions.code` = UNAUTHENTICATED (not FastAPI's `{"detail": ...}`)."""
    return JSONResponse(
        {"data": None, "errors": [{"message": str(error), "extensions": {"code": "UNAUTHENTICATED"}}]},
        status_code=401,
        headers={"WWW-Authenticate": WWW_AUTHENTICATE},
    )


def _wants_ide(request: HTTPConnection) -> bool:
    return (
        isinstance(request, Request)
        and request.method == "GET"
        and "text/html" in request.headers.get("accept", "")
        and ("query" not in request.query_params)
    )


async def get_context(request: HTTPConnection) -> Context:
    settings: Settings = request.app.state.settings
    authenticator: Authenticator = request.app.state.authenticator
    principal = None
    if request.scope["type"] == "websocket":
        if "authorization" in request.headers:
            try:
                principal = await authenticator.authenticate(request.headers["authorization"])
            except AuthenticationFailed:
                principal = None  # refused at connection_init (GatewayGraphQLRouter.on_ws_connect)
    elif not (_wants_ide(request) and settings.graphql_ide and "authorization" not in request.headers):
        try:
            principal = await authenticator.authenticate(request.headers.get("authorization"))
        except AuthenticationFailed as exc:
            raise GraphQLUnauthenticated(str(exc)) from exc
    return Context(
        uow_factory=request.app.state.uow_factory,
        settings=settings,
        authenticator=authenticator,
        principal=principal,
        now=now_ms(),
    )


class GatewayGraphQLRouter(OfflineGraphQLRouter):
    async def on_ws_connect(self, context: BaseContext | dict[str, Any]) -> None:
        assert isinstance(context, Context)  # get_context makes every context
        if context.maybe_principal is not None:
            return
        params: dict[str, Any] = context.connection_params or {}
        authorization = params.get("Authorization", params.get("authorization"))
        if not isinstance(authorization, str):
            raise ConnectionRejectionError({"message": "Credentials are required"})
        try:
            context.sign_in(await context.authenticator.authenticate(authorization))
        except AuthenticationFailed as exc:
            raise ConnectionRejectionError({"message": str(exc)}) from exc


def create_graphql_router(settings: Settings) -> OfflineGraphQLRouter:
    return GatewayGraphQLRouter(  # GraphiQL from this service's own assets, not a CDN
        schema,
        context_getter=get_context,
        graphql_ide="graphiql" if settings.graphql_ide else None,
        allow_queries_via_get=True,
    )
