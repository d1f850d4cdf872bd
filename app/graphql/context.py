"""Per-request GraphQL context: who is calling, the unit-of-work factory, and this request's DataLoaders."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import strawberry
from strawberry.dataloader import DataLoader
from strawberry.fastapi import BaseContext

from app.domain.models import Principal, Promotion
from app.domain.ports import UnitOfWorkFactory
from app.graphql.extensions import request_id_for
from app.services import queries
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
