from __future__ import annotations

from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.models import ApiClientRecord
from app.persistence.tables import access_token_table, api_client_table


def _record(row: object) -> ApiClientRecord:
    return ApiClientRecord(
        id=row.id,  # type: ignore[attr-defined]
        org_id=row.org_id,  # type: ignore[attr-defined]
        name=row.name,  # type: ignore[attr-defined]
        username=row.username,  # type: ignore[attr-defined]
        secret_hash=row.secret_hash,  # type: ignore[attr-defined]
        scopes=tuple(row.scopes.split()),  # type: ignore[attr-defined]
        active=row.active,  # type: ignore[attr-defined]
    )


class ApiClientRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(
        self, *, org_id: int, name: str, username: str, secret_hash: str, scopes: list[str], created_at: int
    ) -> int:
        result = await self._session.execute(
            insert(api_client_table)
            .values(
                org_id=org_id,
                name=name,
                username=username,
                secret_hash=secret_hash,
                scopes=" ".join(scopes),
                active=True,
                created_at=created_at,
            )
            .returning(api_client_table.c.id)
        )
        return int(result.scalar_one())

    async def get_by_username(self, username: str) -> ApiClientRecord | None:
        row = (
            await self._session.execute(
                select(api_client_table).where(api_client_table.c.username == username)
            )
        ).first()
        return _record(row) if row else None

    async def add_token(self, *, token_hash: str, client_id: int, expires_at: int) -> None:
        await self._session.execute(
            insert(access_token_table).values(
                token_hash=token_hash, client_id=client_id, expires_at=expires_at
            )
        )

    async def delete_expired_tokens(self, *, now: int) -> None:
        await self._session.execute(delete(access_token_table).where(access_token_table.c.expires_at < now))

    async def get_by_token(self, *, token_hash: str, now: int) -> ApiClientRecord | None:
        row = (
            await self._session.execute(
                select(api_client_table)
                .join(access_token_table, access_token_table.c.client_id == api_client_table.c.id)
                .where(access_token_table.c.token_hash == token_hash, access_token_table.c.expires_at > now)
            )
        ).first()
        return _record(row) if row else None
