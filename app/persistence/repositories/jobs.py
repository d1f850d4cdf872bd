"""Bulk issue jobs (DESIGN §8.4) in `issue_job`, their ids in `issue_job_ids`.

Claim. PostgreSQL: `SELECT … FOR UPDATE SKIP LOCKED` picks the oldest free job (QUEUED, or RUNNING
with its lease run out) that no other transaction has locked, then one UPDATE leases it; two
runners polling at once get two different jobs or one gets none, never the same one (the pattern
of Oban, Solid Queue and procrastinate). SQLite has no row locks and needs none: a write unit of
work holds the database's write lock (BEGIN IMMEDIATE), and the claim is one UPDATE guarded by
the same "free" condition, so of two claimers the second finds the job leased.

Fence. Every write of a runner for its job starts with `hold`: an UPDATE of the job row guarded by
(state RUNNING, lease_owner, processed) that renews the lease. It matches no row once the job was
cancelled, taken over by another runner or advanced by one, and the runner rolls back; when it
matches, the row stays locked by that transaction (PostgreSQL) until the chunk commits, so a
cancel or a claimer waits for the chunk instead of racing it.

Ids. One blob of 8-byte integers per job rather than a row per id: storing it is one INSERT of
8 MB for a million ids, and a runner reads it once per claim; rows would be a million-row insert
inside startIssueJob's request (README "Bulk issue jobs" has the measured figures).
"""

from __future__ import annotations

import sys
from array import array
from collections.abc import Sequence
from typing import Any

from sqlalchemy import and_, func, insert, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.jobs import CLAIMABLE_STATES, ChunkProgress, IssueJob, JobError, JobState, Lease
from app.domain.models import Page
from app.domain.paging import decode_cursor, encode_cursor
from app.persistence.database import dialect_of
from app.persistence.tables import issue_job_ids_table, issue_job_table

j = issue_job_table.c
ji = issue_job_ids_table.c

_JOB_COLUMNS = [column for column in issue_job_table.c]


def pack_ids(ids: Sequence[int]) -> bytes:
    packed = array("q", ids)
    if sys.byteorder != "little":
        packed.byteswap()
    return packed.tobytes()


def unpack_ids(blob: bytes | None) -> list[int]:
    unpacked = array("q")
    unpacked.frombytes(blob or b"")
    if sys.byteorder != "little":
        unpacked.byteswap()
    return unpacked.tolist()


def _job(row: Any) -> IssueJob:
    return IssueJob(
        org_id=row.org_id,
        id=row.id,
        state=JobState(row.state),
        promotion_id=row.promotion_id,
        context_id=row.context_id,
        skip_missing=bool(row.skip_missing),
        actor=row.actor,
        total=row.total,
        processed=row.processed,
        issued_count=row.issued_count,
        already_issued_count=row.already_issued_count,
        missing_count=row.missing_count,
        error=JobError(row.error_kind, row.error_message or "") if row.error_kind else None,
        created_at=row.created_at,
        started_at=row.started_at,
        finished_at=row.finished_at,
        checked=bool(row.checked),
    )


def _free(now: int) -> Any:
    return and_(j.state.in_([s.value for s in CLAIMABLE_STATES]), j.lease_until < now)


class JobRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, job: IssueJob, customer_ids: Sequence[int]) -> None:
        await self._session.execute(
            insert(issue_job_table).values(
                id=job.id,
                org_id=job.org_id,
                state=job.state.value,
                promotion_id=job.promotion_id,
                context_id=job.context_id,
                skip_missing=job.skip_missing,
                actor=job.actor,
                total=job.total,
                processed=job.processed,
                issued_count=job.issued_count,
                already_issued_count=job.already_issued_count,
                missing_count=job.missing_count,
                checked=job.checked,
                lease_owner="",
                lease_until=0,
                created_at=job.created_at,
            )
        )
        await self._session.execute(
            insert(issue_job_ids_table).values(
                job_id=job.id, customer_ids=pack_ids(customer_ids), missing_ids=b""
            )
        )

    async def get(self, org_id: int, job_id: str) -> IssueJob | None:
        row = (
            await self._session.execute(select(*_JOB_COLUMNS).where(j.id == job_id, j.org_id == org_id))
        ).first()
        return _job(row) if row is not None else None

    def _filters(self, org_id: int, state: JobState | None) -> list[Any]:
        filters: list[Any] = [j.org_id == org_id]
        if state is not None:
            filters.append(j.state == state.value)
        return filters

    async def page(
        self, org_id: int, *, state: JobState | None, first: int, after: str | None
    ) -> Page[IssueJob]:
        filters = self._filters(org_id, state)
        if after:
            created_at, last_id = decode_cursor(after, int, str)
            filters.append(tuple_(j.created_at, j.id) < tuple_(created_at, last_id))
        rows = (
            await self._session.execute(
                select(*_JOB_COLUMNS)
                .where(*filters)
                .order_by(j.created_at.desc(), j.id.desc())
                .limit(first + 1)
            )
        ).all()
        items = [_job(row) for row in rows[:first]]
        return Page(
            items=items,
            cursors=[encode_cursor(i.created_at, i.id) for i in items],
            has_next_page=len(rows) > first,
        )

    async def count(self, org_id: int, *, state: JobState | None) -> int:
        result = await self._session.execute(
            select(func.count()).select_from(issue_job_table).where(*self._filters(org_id, state))
        )
        return int(result.scalar_one())

    async def count_by_state(self) -> dict[JobState, int]:
        rows = (await self._session.execute(select(j.state, func.count()).group_by(j.state))).all()
        found = {JobState(state): int(count) for state, count in rows}
        return {state: found.get(state, 0) for state in JobState}

    async def customer_ids(self, job_id: str) -> list[int]:
        blob = (await self._session.execute(select(ji.customer_ids).where(ji.job_id == job_id))).scalar()
        return unpack_ids(blob)

    async def missing_ids(self, job_id: str, *, first: int | None = None) -> list[int]:
        column: Any = ji.missing_ids
        if first is not None:
            column = func.substr(ji.missing_ids, 1, 8 * first)  # only what is shown is read out
        blob = (await self._session.execute(select(column).where(ji.job_id == job_id))).scalar()
        return unpack_ids(blob)

    async def claim(self, owner: str, *, now: int, lease_ms: int) -> IssueJob | None:
        if dialect_of(self._session) == "postgresql":
            candidate = (
                select(j.id)
                .where(_free(now))
                .order_by(j.created_at, j.id)
                .limit(1)
                .with_for_update(skip_locked=True)
            )
            job_id = (await self._session.execute(candidate)).scalar()
            if job_id is None:
                return None
            guard: Any = j.id == job_id
        else:
            oldest = select(j.id).where(_free(now)).order_by(j.created_at, j.id).limit(1).scalar_subquery()
            guard = and_(j.id == oldest, _free(now))
        row = (
            await self._session.execute(
                update(issue_job_table)
                .where(guard)
                .values(
                    state=JobState.RUNNING.value,
                    lease_owner=owner,
                    lease_until=now + lease_ms,
                    started_at=func.coalesce(j.started_at, now),
                )
                .returning(*_JOB_COLUMNS)
            )
        ).first()
        return _job(row) if row is not None else None

    async def hold(self, lease: Lease, *, processed: int) -> bool:
        result = await self._session.execute(
            update(issue_job_table)
            .where(
                j.id == lease.job_id,
                j.state == JobState.RUNNING.value,
                j.lease_owner == lease.owner,
                j.lease_until >= lease.at,
                j.processed == processed,
            )
            .values(lease_until=lease.until)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def release(self, owner: str) -> int:
        result = await self._session.execute(
            update(issue_job_table)
            .where(j.state == JobState.RUNNING.value, j.lease_owner == owner)
            .values(lease_until=0)
        )
        return int(result.rowcount)  # type: ignore[attr-defined]

    async def record_checked(self, job_id: str, missing_customer_ids: Sequence[int]) -> None:
        await self._session.execute(
            update(issue_job_table)
            .where(j.id == job_id)
            .values(checked=True, missing_count=len(missing_customer_ids))
        )
        await self._session.execute(
            update(issue_job_ids_table)
            .where(ji.job_id == job_id)
            .values(missing_ids=pack_ids(missing_customer_ids))
        )

    async def advance(self, job_id: str, progress: ChunkProgress, *, finished_at: int | None) -> None:
        values: dict[str, Any] = {
            "processed": j.processed + progress.processed,
            "issued_count": j.issued_count + progress.issued,
            "already_issued_count": j.already_issued_count + progress.already_issued,
        }
        if finished_at is not None:
            values |= {"state": JobState.SUCCEEDED.value, "finished_at": finished_at, "lease_until": 0}
        await self._session.execute(update(issue_job_table).where(j.id == job_id).values(**values))

    async def finish(
        self,
        job_id: str,
        state: JobState,
        *,
        now: int,
        error: JobError | None = None,
        owner: str | None = None,
    ) -> bool:
        guard = [j.id == job_id, j.state.in_([s.value for s in CLAIMABLE_STATES])]
        if owner is not None:
            guard += [j.state == JobState.RUNNING.value, j.lease_owner == owner]
        result = await self._session.execute(
            update(issue_job_table)
            .where(*guard)
            .values(
                state=state.value,
                finished_at=now,
                lease_until=0,
                error_kind=error.kind if error is not None else None,
                error_message=error.message if error is not None else None,
            )
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]
