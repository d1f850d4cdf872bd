"""Who is calling (DESIGN §8.6 `viewer`), and the org's timezone for local times."""

from __future__ import annotations

from app.domain.models import Principal
from app.domain.ports import UnitOfWorkFactory
from app.domain.presentation import Viewer
from app.services.org_lookup import caller_org


async def viewer(uow_factory: UnitOfWorkFactory, principal: Principal) -> Viewer:
    """The caller's client (its name is the label `clients create --name` gave it, read now, not
    from the authentication cache), its scopes, and its org with the org's current settings."""
    async with uow_factory() as uow:
        org = await caller_org(uow, principal.org_id)
        client = await uow.clients.get_by_username(principal.username)
    return Viewer(
        client_name=client.name if client is not None else principal.username,
        username=principal.username,
        scopes=tuple(sorted(principal.scopes)),
        org=org,
    )


async def org_timezone(uow_factory: UnitOfWorkFactory, principal: Principal) -> str | None:
    """The org's IANA timezone now (it can change with updateOrgSettings, so it is read per
    request, never cached across requests); None for an org that no longer exists."""
    async with uow_factory() as uow:
        org = await uow.orgs.get(principal.org_id)
    return org.settings.timezone if org is not None else None
