"""`viewer` (DESIGN §8.6): who the caller is, so a frontend can show it and pick what to offer
(its scopes), and the org's timezone, so it can show local days."""

from __future__ import annotations

from typing import Any

import strawberry
from strawberry.permission import BasePermission

from app.domain import presentation
from app.graphql.context import Info
from app.services import viewer as viewer_service


class IsSignedIn(BasePermission):
    """Any authenticated client may ask who it is, whatever its scopes."""

    message = "Credentials are required"
    error_extensions = {"code": "UNAUTHENTICATED"}

    def has_permission(self, source: Any, info: Any, **kwargs: Any) -> bool:
        return info.context.maybe_principal is not None


@strawberry.type
class Org:
    id: int
    name: str
    timezone: str = strawberry.field(
        description="The org's IANA timezone (Asia/Kolkata); validTill days end in it."
    )


@strawberry.type
class Viewer:
    client_name: str = strawberry.field(description="The API client's name (its label, not its username).")
    scopes: list[str] = strawberry.field(description="wallet:read, wallet:write, admin: what it may do.")
    org: Org

    @classmethod
    def from_domain(cls, found: presentation.Viewer) -> Viewer:
        return cls(
            client_name=found.client_name,
            scopes=[scope.value for scope in found.scopes],
            org=Org(id=found.org.id, name=found.org.name, timezone=found.org.settings.timezone),
        )


@strawberry.type
class ViewerQuery:
    @strawberry.field(permission_classes=[IsSignedIn], description="The calling API client and its org.")
    async def viewer(self, info: Info) -> Viewer:
        found = await viewer_service.viewer(info.context.uow_factory, info.context.principal)
        return Viewer.from_domain(found)
