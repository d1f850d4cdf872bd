"""updateOrgSettings (admin): the settings of the caller's org; fields left out keep their value."""

from __future__ import annotations

from typing import Annotated

import strawberry

from app.domain.commands import UpdateOrgSettings
from app.graphql.context import Info
from app.graphql.errors import InternalError, InvalidRequestError, ResourceLockedError
from app.graphql.permissions import IsAdmin
from app.graphql.resolving import run_mutation
from app.graphql.types import OrgSettings
from app.services import admin


@strawberry.input
class UpdateOrgSettingsInput:
    timezone: str | None = None
    max_active_promotions: int | None = None
    redemption_without_evaluation: bool | None = None
    web_engage_account_id: str | None = strawberry.field(
        default=None, description="An empty string clears it."
    )


@strawberry.type
class UpdateOrgSettingsSuccess:
    settings: OrgSettings


UpdateOrgSettingsPayload = Annotated[
    UpdateOrgSettingsSuccess | InvalidRequestError | ResourceLockedError | InternalError,
    strawberry.union("UpdateOrgSettingsPayload"),
]


@strawberry.type
class UpdateOrgSettingsMutation:
    @strawberry.mutation(permission_classes=[IsAdmin])
    async def update_org_settings(
        self, info: Info, input: UpdateOrgSettingsInput
    ) -> UpdateOrgSettingsPayload:
        command = UpdateOrgSettings(
            timezone=input.timezone,
            max_active_promotions=input.max_active_promotions,
            redemption_without_evaluation=input.redemption_without_evaluation,
            web_engage_account_id=input.web_engage_account_id,
        )
        return await run_mutation(
            UpdateOrgSettingsPayload,
            admin.update_org_settings(info.context.uow_factory, info.context.principal, command),
            lambda settings: UpdateOrgSettingsSuccess(settings=OrgSettings.from_domain(settings)),
        )
