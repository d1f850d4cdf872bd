"""The /graphql route: authenticates every operation; only the IDE page itself is open."""

from __future__ import annotations

from fastapi import HTTPException, Request

from app.auth.authenticator import AuthenticationFailed, Authenticator
from app.auth.routes import WWW_AUTHENTICATE
from app.domain.clock import now_ms
from app.graphql.context import Context
from app.graphql.schema import schema
from app.ide.page import OfflineGraphQLRouter
from app.settings import Settings


def _wants_ide(request: Request) -> bool:
    return (
        request.method == "GET"
        and "text/html" in request.headers.get("accept", "")
        and ("query" not in request.query_params)
    )


async def get_context(request: Request) -> Context:
    settings: Settings = request.app.state.settings
    authenticator: Authenticator = request.app.state.authenticator
    principal = None
    if not (_wants_ide(request) and settings.graphql_ide and "authorization" not in request.headers):
        try:
            principal = await authenticator.authenticate(request.headers.get("authorization"))
        except AuthenticationFailed as exc:
            raise HTTPException(401, detail=str(exc), headers={"WWW-Authenticate": WWW_AUTHENTICATE}) from exc
    return Context(
        uow_factory=request.app.state.uow_factory,
        settings=settings,
        authenticator=authenticator,
        principal=principal,
        now=now_ms(),
    )


def create_graphql_router(settings: Settings) -> OfflineGraphQLRouter:
    return OfflineGraphQLRouter(  # GraphiQL from this service's own assets, not a CDN
        schema,
        context_getter=get_context,
        graphql_ide="graphiql" if settings.graphql_ide else None,
        allow_queries_via_get=True,
    )
