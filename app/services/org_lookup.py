"""The caller's org, read inside a unit of work: one rule for every use case."""

from __future__ import annotations

from app.domain.errors import InvalidRequest
from app.domain.models import Org
from app.domain.ports import UnitOfWork


async def caller_org(uow: UnitOfWork, org_id: int) -> Org:
    """A client whose org no longer exists (or a CLI call naming an unknown org) can do nothing:
    a 400 on field `org`, never retryable, the same from every use case (README, "Decisions")."""
    org = await uow.orgs.get(org_id)
    if org is None:
        raise InvalidRequest(f"org {org_id} does not exist", field="org")
    return org
