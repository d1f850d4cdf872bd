"""Per-request GraphQL context: who is calling, the unit-of-work factory, and this request's DataLoaders."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import strawberry
from strawberry.dataloader import DataLoader
from strawberry.fastapi import BaseContext

from app.domain.models import Principal, Promotion
from app.domain.ports import UnitOfWorkFactory
from app.domain.presentation import org_zone
from app.graphql.extensions import request_id_for
from app.services import queries, viewer
from app.settings import Settings

if TYPE_CHECKING:
    from app.auth.authenticator import Authenticator


class PromotionByIdLoader(DataLoader[str, Promotion | None]):
    """Batches every `EarnedPromotion.promotion` of a request into one query."""

    def __init__(self, uow_factory: UnitOfWorkFactory, org_id: int) -> None:
        async def load(keys: list[str]) -> list[Promotion | None]:
            found = await queries.promotions_by_id(uow_factory, org_id, keys)
            return [found.get(key) for key in keys]

        super().__init__(load_fn=load)


class Context(BaseContext):
    def __init__(
        self,
        *,
        uow_factory: UnitOfWorkFactory,
        settings: Settings,
        authenticator: Authenticator,
        principal: Principal | None,
        now: int,
    ) -> None:
        super().__init__()
        self.uow_factory = uow_factory
        self.settings = settings
        self.authenticator = authenticator
        self._principal = principal
        self.connection_params: dict[str, Any] | None = None  # graphql-transport-ws connection_init
        self.now = now  # one clock reading per request: statuses agree across a response
        self.promotion_loader = PromotionByIdLoader(uow_factory, principal.org_id if principal else 0)
        self._org_zone: ZoneInfo | None = None
        self._org_zone_read: asyncio.Future[ZoneInfo] | None = None

    def org_zone(self) -> ZoneInfo | Awaitable[ZoneInfo]:
        """The org's timezone, read once per request when a field first needs it (validTillLocal):
        the entries of a response share the one read; later fields get it without awaiting."""
        if self._org_zone is not None:
            return self._org_zone
        if self._org_zone_read is None:
            self._org_zone_read = asyncio.ensure_future(self._read_org_zone())
        return self._org_zone_read

    def forget_org_zone(self) -> None:
        """For a context that outlives one answer (a subscription): the next push reads it again."""
        self._org_zone, self._org_zone_read = None, None

    def know_org_zone(self, zone: ZoneInfo) -> None:
        """The timezone as a read of this request already found it (the wallet page's statement)."""
        if self._org_zone is None:
            self._org_zone = zone

    async def _read_org_zone(self) -> ZoneInfo:
        self._org_zone = org_zone(await viewer.org_timezone(self.uow_factory, self.principal))
        return self._org_zone

    @property
    def principal(self) -> Principal:
        if self._principal is None:  # permissions run first; this guards a resolver without one
            raise PermissionError("not authenticated")
        return self._principal

    @property
    def maybe_principal(self) -> Principal | None:
        return self._principal

    def sign_in(self, principal: Principal) -> None:
        """A WebSocket connection authenticated by its connection_init payload (router.py)."""
        self._principal = principal
        self.promotion_loader = PromotionByIdLoader(self.uow_factory, principal.org_id)

    @property
    def request_id(self) -> str:
        """`request.state.request_id` (set by a request-id middleware), else one made for this request."""
        return request_id_for(self.request)


Info = strawberry.Info[Context, Any]
