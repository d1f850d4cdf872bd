"""The runner of bulk issue jobs (DESIGN §8.4), one in every `serve` process (app/main.py starts it
in the app's lifespan; `--no-jobs` / PROMO_WALLET_JOBS_ENABLED=false leave it out).

Claim. A runner takes the oldest QUEUED job, or a RUNNING one whose lease ran out (its process
died), with a lease of at most 30 s in its name (persistence/repositories/jobs.py: `FOR UPDATE SKIP
LOCKED` on PostgreSQL, a guarded UPDATE on SQLite), so two runners never hold one job.

Chunks. The job's ids are written `chunk_size` at a time through the code of issuePromotion
(services/issue.py `write_chunk_in`: the same checks per chunk, the same inserts, one entry per
(promotion, contextId, customer) and its ledger row). Each chunk's transaction first holds the
job (`jobs.hold`: still RUNNING, still this runner's, still at the progress this runner last
committed, and renews the lease), then writes the entries, then adds the chunk to the job's
progress, and commits all of it at once. So a crash loses at most the chunk in flight and counts
nothing twice; a runner that lost its lease (or whose job was cancelled) finds out at its next
chunk and rolls that chunk back: no chunk is ever committed by two runners.

Checks. Once per job, before its first chunk: the promotion and the org's cap again (time has
passed since the start), the customers (404: with `skipMissing` false the job FAILS here, having
written nothing; with true they are recorded and left out of the chunks), 713, and the earn limit,
all over the whole list, read-only, in slices. Per chunk, what issuePromotion re-checks per chunk.
A refusal of a chunk ends the job FAILED with that error (what was written stays, as with
issuePromotion's chunks); a 521 is retried; anything unexpected is logged and the job left to its
lease, so that it resumes once that runs out.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from app.domain.clock import now_ms
from app.domain.commands import IssuePromotion
from app.domain.errors import DomainError, ResourceLocked
from app.domain.ids import new_object_ids
from app.domain.jobs import CLAIMABLE_STATES, MAX_LEASE_MS, ChunkProgress, IssueJob, JobError, JobState, Lease
from app.domain.models import Principal, Scope
from app.domain.ports import UnitOfWorkFactory
from app.services.issue import (
    WRITE_CHUNK,
    check_earn_limit,
    check_earned_from_type,
    check_promotion_and_cap,
    customers_not_found,
    write_chunk_in,
)

logger = logging.getLogger("app.jobs")

# Ids per read-only query of the whole-list checks: one statement's parameter (persistence/id_sets.py).
CHECK_SLICE = 50_000


def runner_name() -> str:
    """Unique per runner: a restarted process on the same host and pid is another owner."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@dataclass
class JobRunner:
    uow_factory: UnitOfWorkFactory
    owner: str = field(default_factory=runner_name)
    lease_ms: int = MAX_LEASE_MS
    poll_s: float = 1.0
    chunk_size: int = WRITE_CHUNK
    clock: Callable[[], int] = now_ms
    locked_pause_s: float = 0.5  # before a chunk refused with 521 is tried again
    # Told of every committed chunk (rows issued by jobs) and every job that ended (its state).
    on_chunk: Callable[[ChunkProgress], None] | None = None
    on_finish: Callable[[JobState], None] | None = None
    # Told, once per poll, how many jobs of all orgs are in each state.
    on_counts: Callable[[dict[JobState, int]], None] | None = None

    def __post_init__(self) -> None:
        if not 0 < self.lease_ms <= MAX_LEASE_MS:
            raise ValueError(f"a job lease is 1 to {MAX_LEASE_MS} ms")

    async def run_forever(self) -> None:
        """Claim and run jobs until cancelled; poll every `poll_s` while there are none."""
        while True:
            try:
                # A read first: an idle runner never takes SQLite's write lock to find nothing.
                async with self.uow_factory() as uow:
                    counts = await uow.jobs.count_by_state()
                if self.on_counts is not None:
                    self.on_counts(counts)
                ran = await self.run_next() if any(counts[s] for s in CLAIMABLE_STATES) else None
            except asyncio.CancelledError:
                raise
            except Exception:
                # The database gone, a bug: the job keeps its lease until it runs out, then resumes.
                logger.exception("issue job runner failed; retrying after a pause")
                ran = None
            if ran is None:
                await asyncio.sleep(self.poll_s)

    async def run_next(self) -> IssueJob | None:
        """Claim one job and run it to its end (or until it is lost); the job as claimed, or None."""
        try:
            async with self.uow_factory(write=True) as uow:
                job = await uow.jobs.claim(self.owner, now=self.clock(), lease_ms=self.lease_ms)
                await uow.commit()
        except ResourceLocked:
            return None  # the database is busy (SQLite: a long write): claim at the next poll
        if job is not None:
            await self.run(job)
        return job

    async def release(self) -> None:
        """Give this runner's jobs back (the process is stopping): another runner, or this one
        restarted, resumes them at once instead of after the lease."""
        async with self.uow_factory(write=True) as uow:
            released = await uow.jobs.release(self.owner)
            await uow.commit()
        if released:
            logger.info("released %d issue job(s) on shutdown", released)

    def _lease(self, job: IssueJob) -> Lease:
        at = self.clock()
        return Lease(job_id=job.id, owner=self.owner, at=at, until=at + self.lease_ms)

    async def run(self, job: IssueJob) -> None:
        """Run a job this runner claimed, from its `processed`, until it ends or is lost."""
        logger.info("running issue job %s from %d of %d", job.id, job.processed, job.total)
        async with self.uow_factory(bulk=True) as uow:
            ids = await uow.jobs.customer_ids(job.id)
            missing = set(await uow.jobs.missing_ids(job.id)) if job.checked else set()
        principal = Principal(
            org_id=job.org_id, client_id=0, username=job.actor, scopes=frozenset({Scope.WALLET_WRITE})
        )
        command = IssuePromotion(promotion_id=job.promotion_id, context_id=job.context_id, customer_ids=())
        if not job.checked:
            checked = await self._check(job, principal, command, ids)
            if checked is None:
                return
            missing = checked
        processed = job.processed
        while processed < len(ids):
            chunk = ids[processed : processed + self.chunk_size]
            written = [c for c in chunk if c not in missing] if missing else chunk
            try:
                progress = await self._write(job, principal, command, processed, chunk, written)
            except ResourceLocked:
                await asyncio.sleep(self.locked_pause_s)
                continue
            except DomainError as error:
                await self._fail(job, processed, error)
                return
            if progress is None:
                logger.info("issue job %s: no longer this runner's (cancelled or taken over)", job.id)
                return
            processed += len(chunk)
            if self.on_chunk is not None:
                self.on_chunk(progress)
            if processed < len(ids) and self.uow_factory.pause_between_writes_s:
                await asyncio.sleep(self.uow_factory.pause_between_writes_s)
        self._finished(JobState.SUCCEEDED)

    async def _check(
        self, job: IssueJob, principal: Principal, command: IssuePromotion, ids: list[int]
    ) -> set[int] | None:
        """The whole-list checks (see the module docstring); the missing ids, or None when the job
        ended here (FAILED) or is no longer this runner's."""
        now = self.clock()
        missing: list[int] = []
        try:
            async with self.uow_factory(bulk=True) as uow:
                promotion, _ = await check_promotion_and_cap(uow, principal, command, now)
                for start in range(0, len(ids), CHECK_SLICE):
                    part = ids[start : start + CHECK_SLICE]
                    absent = await uow.customers.missing_ids(job.org_id, part)
                    missing += [c for c in part if c in absent]
                if missing and not job.skip_missing:
                    raise customers_not_found(missing)
                await check_earned_from_type(uow, principal, promotion, job.context_id)
                absent_set = set(missing)
                for start in range(0, len(ids), CHECK_SLICE):
                    present = [c for c in ids[start : start + CHECK_SLICE] if c not in absent_set]
                    await check_earn_limit(uow, job.org_id, promotion, job.context_id, present, lock=False)
        except DomainError as error:
            await self._fail(job, job.processed, error, missing=missing)
            return None
        async with self.uow_factory(write=True) as uow:
            if not await uow.jobs.hold(self._lease(job), processed=job.processed):
                return None
            await uow.jobs.record_checked(job.id, missing)
            await uow.commit()
        return set(missing)

    async def _write(
        self,
        job: IssueJob,
        principal: Principal,
        command: IssuePromotion,
        processed: int,
        chunk: list[int],
        written: list[int],
    ) -> ChunkProgress | None:
        now = self.clock()
        async with self.uow_factory(write=True, bulk=True) as uow:
            if not await uow.jobs.hold(self._lease(job), processed=processed):
                return None
            issued = 0
            if written:
                entry_ids = sorted(new_object_ids(len(written), now))
                _, issued = await write_chunk_in(
                    uow, principal, command, written, entry_ids, now, False, check_all=None
                )
            progress = ChunkProgress(
                processed=len(chunk), issued=issued, already_issued=len(written) - issued
            )
            done = processed + len(chunk) >= job.total
            await uow.jobs.advance(job.id, progress, finished_at=now if done else None)
            await uow.commit()
        return progress

    async def _fail(
        self, job: IssueJob, processed: int, error: DomainError, *, missing: Sequence[int] = ()
    ) -> None:
        logger.info("issue job %s failed: %s %s", job.id, int(error.code), error.message)
        async with self.uow_factory(write=True) as uow:
            if not await uow.jobs.hold(self._lease(job), processed=processed):
                return
            if missing:
                await uow.jobs.record_checked(job.id, missing)
            await uow.jobs.finish(
                job.id, JobState.FAILED, now=self.clock(), error=JobError.of(error), owner=self.owner
            )
            await uow.commit()
        self._finished(JobState.FAILED)

    def _finished(self, state: JobState) -> None:
        if self.on_finish is not None:
            self.on_finish(state)
