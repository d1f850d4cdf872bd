"""Idempotency-Key use cases (DESIGN §8.3): claim a key before a request runs, then store its
final answer or free the key. The rules are domain/idempotency.py's; the one caller is the ASGI
middleware that both faces share (app/http_idempotency.py).

The claim is a row insert that the unique (client, key) constraint decides: of concurrent
requests with one key, in one process or many, exactly one inserts, whatever the timing; the
others meet `AlreadyExists` and are answered from the row (409 while it runs, the stored answer
after). A claim is its own short transaction, committed before the request runs, so that the
others can see it. Expired rows are purged here, a few on each new claim: no job is needed.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from app.domain import idempotency as rules
from app.domain.errors import AlreadyExists
from app.domain.idempotency import IdempotencyRecord, StoredResponse
from app.domain.models import Principal
from app.domain.ports import UnitOfWorkFactory

# Rows purged per claim: bounded so that a claim never pays for a backlog at once; a claim
# purges more than one, so the backlog shrinks whenever keys are used at all.
PURGE_BATCH = 100
# A claim that meets a row, finds it lapsed and loses the take-over to another request reads
# the row again; after this many turns the key is so contended that a 409 is the truth.
_CLAIM_ATTEMPTS = 3


@dataclass(frozen=True, slots=True)
class Claimed:
    """The key is this request's: run it, then `complete` or `release` with this record."""

    record: IdempotencyRecord


async def claim_key(
    uow_factory: UnitOfWorkFactory,
    principal: Principal,
    key: str,
    fingerprint: str,
    *,
    now: int,
    ttl_ms: int,
    claim_ms: int,
) -> Claimed | StoredResponse:
    """The key for this request, or the stored answer to replay. `IdempotencyKeyReused` (422)
    for another request under the key, `IdempotencyKeyInProgress` (409) while its first request
    runs; `ResourceLocked` (521) when the database is too busy to decide in time."""
    record = rules.new_claim(
        principal.client_id,
        key,
        fingerprint,
        secrets.token_hex(16),
        now=now,
        ttl_ms=ttl_ms,
        claim_ms=claim_ms,
    )
    try:
        async with uow_factory(write=True) as uow:
            await uow.idempotency_keys.purge_expired(now=now, limit=PURGE_BATCH)
            await uow.idempotency_keys.add(record)
            await uow.commit()
        return Claimed(record)
    except AlreadyExists:
        pass
    for _ in range(_CLAIM_ATTEMPTS):
        async with uow_factory() as uow:
            existing = await uow.idempotency_keys.get(principal.client_id, key)
        if existing is not None:
            stored = rules.answer_to_repeat(existing, fingerprint, now)
            if stored is not None:
                return stored
        # Lapsed (a dead request's claim, or past retention), or freed meanwhile: claim it anew,
        # again through a guard the database decides (the row as seen, or none at all).
        try:
            async with uow_factory(write=True) as uow:
                if existing is None:
                    await uow.idempotency_keys.add(record)
                    taken = True
                else:
                    taken = await uow.idempotency_keys.take_over(record, from_claim=existing.claim)
                if taken:
                    await uow.commit()
                    return Claimed(record)
        except AlreadyExists:
            pass
    raise rules.IdempotencyKeyInProgress(
        f"A request with this {rules.KEY_HEADER} is still being processed; retry after a moment"
    )


async def complete(uow_factory: UnitOfWorkFactory, claimed: Claimed, response: StoredResponse) -> bool:
    """Store the request's final answer; False if its claim had lapsed and was taken over
    meanwhile (the newer request's answer is the one kept)."""
    record = claimed.record
    async with uow_factory(write=True) as uow:
        stored = await uow.idempotency_keys.complete(
            record.client_id, record.key, claim=record.claim, response=response
        )
        await uow.commit()
    return stored


async def release(uow_factory: UnitOfWorkFactory, claimed: Claimed) -> None:
    """Free the key after a retryable outcome (or a failure of the request itself)."""
    record = claimed.record
    async with uow_factory(write=True) as uow:
        await uow.idempotency_keys.release(record.client_id, record.key, claim=record.claim)
        await uow.commit()


# --- Retryable outcomes the HTTP status does not show --------------------------------------------
# A GraphQL mutation answers ResourceLockedError or InternalError inside a 200: the face that
# maps the error says so here, and the middleware, which set the watch, does not store it.


class _Outcome:
    __slots__ = ("retryable",)

    def __init__(self) -> None:
        self.retryable = False


_watched: ContextVar[_Outcome | None] = ContextVar("idempotency_outcome", default=None)


@contextmanager
def watching_outcome() -> Iterator[_Outcome]:
    """For the duration of a keyed request: `note_retryable_outcome()` calls within it (in its
    task or tasks started from it) mark this outcome."""
    outcome = _Outcome()
    token = _watched.set(outcome)
    try:
        yield outcome
    finally:
        _watched.reset(token)


def note_retryable_outcome() -> None:
    """The request's answer tells the client to retry (outside a keyed request: nothing)."""
    outcome = _watched.get()
    if outcome is not None:
        outcome.retryable = True
