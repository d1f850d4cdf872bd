"""`IdempotencyKeyRepository` (domain/ports.py) over the idempotency_key table. Every write is
guarded by the row's `claim`, so a request whose claim lapsed and was taken over can no longer
complete or free the key."""

from __future__ import annotations

from typing import Any

from sqlalchemy import bindparam, delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.idempotency import IdempotencyRecord, StoredResponse
from app.persistence.database import dialect_of
from app.persistence.tables import idempotency_key_table

_t = idempotency_key_table.c

_GET = select(idempotency_key_table).where(
    _t.client_id == bindparam("b_client"), _t.idempotency_key == bindparam("b_key")
)
_INSERT = insert(idempotency_key_table)
_OWNED = (
    _t.client_id == bindparam("b_client"),
    _t.idempotency_key == bindparam("b_key"),
    _t.claim == bindparam("b_claim"),
)
_TAKE_OVER = update(idempotency_key_table).where(*_OWNED)
_COMPLETE = update(idempotency_key_table).where(*_OWNED)
_RELEASE = delete(idempotency_key_table).where(*_OWNED)


def _values(record: IdempotencyRecord) -> dict[str, Any]:
    response = record.response
    return {
        "client_id": record.client_id,
        "idempotency_key": record.key,
        "fingerprint": record.fingerprint,
        "claim": record.claim,
        "created_at": record.created_at,
        "claimed_until": record.claimed_until,
        "expires_at": record.expires_at,
        "response_status": response.status if response else None,
        "response_content_type": response.content_type if response else None,
        "response_body": response.body if response else None,
    }


def _record(row: Any) -> IdempotencyRecord:
    response = (
        StoredResponse(
            status=int(row.response_status),
            content_type=str(row.response_content_type),
            body=bytes(row.response_body),
        )
        if row.response_status is not None
        else None
    )
    return IdempotencyRecord(
        client_id=int(row.client_id),
        key=str(row.idempotency_key),
        fingerprint=str(row.fingerprint),
        claim=str(row.claim),
        created_at=int(row.created_at),
        claimed_until=int(row.claimed_until),
        expires_at=int(row.expires_at),
        response=response,
    )


class IdempotencyKeyRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def get(self, client_id: int, key: str) -> IdempotencyRecord | None:
        row = (await self._session.execute(_GET, {"b_client": client_id, "b_key": key})).first()
        return _record(row) if row else None

    async def add(self, record: IdempotencyRecord) -> None:
        # A clash on uq_idempotency_key is an IntegrityError: AlreadyExists out of the unit of work.
        await self._session.execute(_INSERT, _values(record))

    async def take_over(self, record: IdempotencyRecord, *, from_claim: str) -> bool:
        values = _values(record)
        del values["client_id"], values["idempotency_key"]
        result = await self._session.execute(
            _TAKE_OVER.values(**values),
            {"b_client": record.client_id, "b_key": record.key, "b_claim": from_claim},
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def complete(self, client_id: int, key: str, *, claim: str, response: StoredResponse) -> bool:
        result = await self._session.execute(
            _COMPLETE.values(
                response_status=response.status,
                response_content_type=response.content_type,
                response_body=response.body,
            ),
            {"b_client": client_id, "b_key": key, "b_claim": claim},
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def release(self, client_id: int, key: str, *, claim: str) -> bool:
        result = await self._session.execute(
            _RELEASE, {"b_client": client_id, "b_key": key, "b_claim": claim}
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def purge_expired(self, *, now: int, limit: int) -> int:
        expired = select(_t.id).where(_t.expires_at <= now).order_by(_t.expires_at).limit(limit)
        if dialect_of(self._session) != "sqlite":
            # Rows another claim is purging (or taking over) are skipped, not waited for: a purge
            # must never make a claim wait, nor two purges deadlock on each other's rows.
            expired = expired.with_for_update(skip_locked=True)
        result = await self._session.execute(delete(idempotency_key_table).where(_t.id.in_(expired)))
        return int(result.rowcount)  # type: ignore[attr-defined]
