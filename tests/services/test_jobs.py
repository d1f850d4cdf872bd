"""Bulk issue jobs on fakes (DESIGN §8.4): startIssueJob's checks in issuePromotion's order, the
runner's chunks, leases and fences, skipMissing, cancel, and the end state of one issuePromotion."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import pytest

from app.domain.commands import IssuePromotion
from app.domain.errors import (
    CustomerNotFound,
    DomainError,
    EarnNotSupported,
    InvalidCustomerIdentifier,
    InvalidRequest,
    IssueJobNotFound,
    MaxActivePromotionsExceeded,
    PromotionExpired,
    PromotionNotFound,
    PromotionTypeNotSupported,
)
from app.domain.jobs import IssueJob, JobState
from app.domain.models import EarnedFromType, LedgerKind, Principal, PromotionType
from app.services import jobs
from app.services.issue import issue_promotion
from app.services.job_runner import JobRunner
from app.services.jobs import StartIssueJob
from tests.fakes import FakeStore, FakeUnitOfWorkFactory
from tests.services.factories import OTHER_ORG_ID, Given, principal_of

CONTEXT = "job-campaign"


async def start(
    uow_factory: FakeUnitOfWorkFactory,
    principal: Principal,
    promotion_id: str,
    customer_ids: Sequence[object],
    *,
    skip_missing: bool = False,
    max_job_ids: int = 1_000_000,
    context_id: str = CONTEXT,
    now: int | None = None,
) -> IssueJob:
    command = StartIssueJob(
        promotion_id=promotion_id,
        context_id=context_id,
        customer_ids=list(customer_ids),
        skip_missing=skip_missing,
    )
    return await jobs.start_issue_job(uow_factory, principal, command, max_job_ids=max_job_ids, now=now)


def runner(uow_factory: FakeUnitOfWorkFactory, *, chunk_size: int = 3, owner: str = "runner-a") -> JobRunner:
    return JobRunner(uow_factory, owner=owner, chunk_size=chunk_size, poll_s=0, locked_pause_s=0)


async def refused(
    store: FakeStore,
    uow_factory: FakeUnitOfWorkFactory,
    principal: Principal,
    promotion_id: str,
    ids: list[object],
) -> DomainError:
    before = store.state()
    with pytest.raises(DomainError) as caught:
        await start(uow_factory, principal, promotion_id, ids, max_job_ids=5)
    assert store.state() == before, "a refused start stores nothing"
    return caught.value


# --- startIssueJob: issuePromotion's request-level checks, in its order, storing nothing --------


async def test_start_refuses_a_bad_context_id_before_the_ids(
    given: Given, store: FakeStore, uow_factory: FakeUnitOfWorkFactory, principal: Principal
) -> None:
    with pytest.raises(InvalidRequest) as caught:
        await start(uow_factory, principal, "nope", [None], context_id="")
    assert caught.value.field == "contextId"
    assert store.tables.jobs == {}


async def test_start_refuses_null_ids_with_their_indexes_before_the_job_size(
    given: Given, store: FakeStore, uow_factory: FakeUnitOfWorkFactory, principal: Principal
) -> None:
    error = await refused(store, uow_factory, principal, "nope", [1, None, 2, 3, 4, 5, 6])
    assert isinstance(error, InvalidCustomerIdentifier) and error.indexes == [1]


async def test_start_refuses_more_ids_than_the_job_limit_before_the_promotion(
    given: Given, store: FakeStore, uow_factory: FakeUnitOfWorkFactory, principal: Principal
) -> None:
    error = await refused(store, uow_factory, principal, "nope", [1, 2, 3, 4, 5, 6])
    assert isinstance(error, InvalidRequest) and error.field == "customerIds"
    assert "per job" in error.message


async def test_start_refuses_an_unknown_or_other_orgs_promotion(
    given: Given, store: FakeStore, uow_factory: FakeUnitOfWorkFactory, principal: Principal
) -> None:
    given.org(OTHER_ORG_ID)
    theirs = given.promotion(org_id=OTHER_ORG_ID)
    assert isinstance(await refused(store, uow_factory, principal, theirs.id, [1]), PromotionNotFound)


@pytest.mark.parametrize(
    ("type_", "error"),
    [(PromotionType.POS, PromotionTypeNotSupported), (PromotionType.CODE, EarnNotSupported)],
)
async def test_start_refuses_pos_and_code_promotions_before_their_dates(
    given: Given,
    store: FakeStore,
    uow_factory: FakeUnitOfWorkFactory,
    principal: Principal,
    type_: PromotionType,
    error: type[DomainError],
) -> None:
    promotion = given.promotion(type_, ends_in_days=-1)
    assert isinstance(await refused(store, uow_factory, principal, promotion.id, [1]), error)


async def test_start_refuses_an_expired_promotion_before_the_cap(
    given: Given, store: FakeStore, uow_factory: FakeUnitOfWorkFactory, principal: Principal
) -> None:
    given.settings(max_active_promotions=0)
    promotion = given.promotion(ends_in_days=-1)
    assert isinstance(await refused(store, uow_factory, principal, promotion.id, [1]), PromotionExpired)


async def test_start_refuses_an_org_over_its_active_cap(
    given: Given, store: FakeStore, uow_factory: FakeUnitOfWorkFactory, principal: Principal
) -> None:
    given.settings(max_active_promotions=1)
    given.promotion()
    promotion = given.promotion()
    error = await refused(store, uow_factory, principal, promotion.id, [1])
    assert isinstance(error, MaxActivePromotionsExceeded)


async def test_start_does_not_look_at_the_customers_and_stores_a_queued_job_of_distinct_ids(
    given: Given, store: FakeStore, uow_factory: FakeUnitOfWorkFactory, principal: Principal
) -> None:
    promotion = given.promotion()
    job = await start(uow_factory, principal, promotion.id, [5, 3, 5, 9])  # 9, 3 and 5 are no customers
    assert (job.state, job.total, job.processed) == (JobState.QUEUED, 3, 0)
    assert store.tables.job_ids[job.id] == (3, 5, 9)
    assert await jobs.get_issue_job(uow_factory, principal, job.id) == job
    assert store.entries_of(principal.org_id) == []


# --- The runner ------------------------------------------------------------------------------


async def test_a_job_issues_every_customer_in_chunks_committing_its_progress_with_each(
    given: Given, store: FakeStore, uow_factory: FakeUnitOfWorkFactory, principal: Principal
) -> None:
    promotion = given.promotion()
    given.customers(*range(1, 9))
    job = await start(uow_factory, principal, promotion.id, list(range(1, 9)))
    seen: list[int] = []
    the_runner = runner(uow_factory)
    the_runner.on_chunk = lambda progress: seen.append(progress.issued)

    assert (await the_runner.run_next()) is not None
    done = await jobs.require_issue_job(uow_factory, principal, job.id)
    assert (done.state, done.processed, done.issued_count, done.already_issued_count) == (
        JobState.SUCCEEDED,
        8,
        8,
        0,
    )
    assert done.started_at is not None and done.finished_at is not None
    assert seen == [3, 3, 2]
    entries = store.entries_of(principal.org_id)
    assert sorted(e.customer_id for e in entries) == list(range(1, 9))
    assert {(e.earned_from_type, e.earned_from_id) for e in entries} == {(EarnedFromType.BULK_ISSUE, CONTEXT)}
    assert [row.kind for row in store.ledger] == [LedgerKind.ISSUED] * 8
    assert all(row.actor == principal.username for row in store.ledger)
    assert await runner(uow_factory).run_next() is None, "a finished job is never claimed again"


async def test_a_job_ends_as_one_issue_promotion_call_with_the_same_arguments_would(
    now: int, uow_factory: FakeUnitOfWorkFactory
) -> None:
    principal = principal_of()
    ids = [7, 3, 3, 11, 5, 1, 2]

    async def end_state(use_job: bool) -> tuple[object, ...]:
        store = FakeStore()
        factory = FakeUnitOfWorkFactory(store)
        given = Given(store, now)
        given.org()
        promotion = given.promotion(redemption_window_days=3)
        given.customers(*set(ids))
        given.entry(promotion, 5, earned_from_id=CONTEXT, earned_from_type=EarnedFromType.BULK_ISSUE)
        if use_job:
            await start(factory, principal, promotion.id, ids)
            await runner(factory, chunk_size=2).run_next()
        else:
            command = IssuePromotion(promotion_id=promotion.id, context_id=CONTEXT, customer_ids=ids)
            await issue_promotion(factory, principal, command, max_batch=100, now=now)
        entries = sorted(
            (
                e.customer_id,
                e.promotion_id == promotion.id,
                e.earned_from_id,
                e.instance,
                e.redemptions_allowed,
            )
            for e in store.entries_of(principal.org_id)
        )
        ledger = sorted((r.customer_id, r.kind, r.quantity, r.source) for r in store.ledger)
        return tuple(entries), tuple(ledger)

    assert await end_state(use_job=True) == await end_state(use_job=False)


async def test_a_repeat_customer_counts_as_already_issued(
    given: Given, store: FakeStore, uow_factory: FakeUnitOfWorkFactory, principal: Principal
) -> None:
    promotion = given.promotion()
    given.customers(1, 2, 3)
    given.entry(promotion, 2, earned_from_id=CONTEXT, earned_from_type=EarnedFromType.BULK_ISSUE)
    job = await start(uow_factory, principal, promotion.id, [1, 2, 3])
    await runner(uow_factory).run_next()
    done = await jobs.require_issue_job(uow_factory, principal, job.id)
    assert (done.issued_count, done.already_issued_count, done.total) == (2, 1, 3)
    assert len(store.entries_of(principal.org_id)) == 3


async def test_missing_customers_fail_the_job_before_any_write_unless_skip_missing(
    given: Given, store: FakeStore, uow_factory: FakeUnitOfWorkFactory, principal: Principal
) -> None:
    promotion = given.promotion()
    given.customers(1, 3)
    job = await start(uow_factory, principal, promotion.id, [4, 1, 2, 3])
    await runner(uow_factory, chunk_size=1).run_next()
    failed = await jobs.require_issue_job(uow_factory, principal, job.id)
    assert failed.state is JobState.FAILED and failed.error is not None
    error = failed.error.rebuild(await jobs.missing_customer_ids(uow_factory, principal, job.id, first=100))
    assert isinstance(error, CustomerNotFound) and error.customer_ids == [2, 4]
    assert (failed.processed, failed.issued_count, failed.missing_count) == (0, 0, 2)
    assert store.entries_of(principal.org_id) == []


async def test_with_skip_missing_the_others_are_issued_and_the_missing_ones_listed(
    given: Given, store: FakeStore, uow_factory: FakeUnitOfWorkFactory, principal: Principal
) -> None:
    promotion = given.promotion()
    given.customers(1, 3, 5)
    job = await start(uow_factory, principal, promotion.id, [1, 2, 3, 4, 5], skip_missing=True)
    await runner(uow_factory, chunk_size=2).run_next()
    done = await jobs.require_issue_job(uow_factory, principal, job.id)
    assert (done.state, done.processed, done.issued_count, done.missing_count) == (
        JobState.SUCCEEDED,
        5,
        3,
        2,
    )
    assert await jobs.missing_customer_ids(uow_factory, principal, job.id, first=1) == [2]
    assert sorted(e.customer_id for e in store.entries_of(principal.org_id)) == [1, 3, 5]


async def test_a_promotion_that_expires_mid_job_fails_it_keeping_the_chunks_written(
    given: Given, store: FakeStore, uow_factory: FakeUnitOfWorkFactory, principal: Principal, now: int
) -> None:
    promotion = given.promotion()
    given.customers(1, 2, 3, 4)
    job = await start(uow_factory, principal, promotion.id, [1, 2, 3, 4])
    the_runner = runner(uow_factory, chunk_size=2)
    the_runner.on_chunk = lambda _: store.replace_promotion(replace(promotion, active=False)) and None
    await the_runner.run_next()
    failed = await jobs.require_issue_job(uow_factory, principal, job.id)
    assert failed.state is JobState.FAILED and failed.error is not None
    assert isinstance(failed.error.rebuild(), PromotionExpired)
    assert failed.processed == 2 and len(store.entries_of(principal.org_id)) == 2


async def test_a_job_whose_runner_died_is_resumed_after_its_lease_from_the_last_committed_chunk(
    given: Given, store: FakeStore, uow_factory: FakeUnitOfWorkFactory, principal: Principal, now: int
) -> None:
    promotion = given.promotion()
    given.customers(*range(1, 8))
    job = await start(uow_factory, principal, promotion.id, list(range(1, 8)))
    clock = [now]
    dying = JobRunner(uow_factory, owner="dying", chunk_size=3, lease_ms=10_000, clock=lambda: clock[0])

    class Killed(Exception):
        pass

    def kill(_: object) -> None:
        raise Killed

    dying.on_chunk = kill  # dies right after its first chunk committed
    with pytest.raises(Killed):
        await dying.run_next()
    other = JobRunner(uow_factory, owner="other", chunk_size=3, lease_ms=10_000, clock=lambda: clock[0])
    assert await other.run_next() is None, "the lease is still live"
    clock[0] += 10_001
    resumed = await other.run_next()
    assert resumed is not None and resumed.processed == 3
    done = await jobs.require_issue_job(uow_factory, principal, job.id)
    assert (done.state, done.issued_count, done.already_issued_count) == (JobState.SUCCEEDED, 7, 0)
    assert len(store.ledger) == 7


async def test_a_runner_that_lost_its_lease_commits_nothing_more(
    given: Given, store: FakeStore, uow_factory: FakeUnitOfWorkFactory, principal: Principal, now: int
) -> None:
    promotion = given.promotion()
    given.customers(*range(1, 8))
    job = await start(uow_factory, principal, promotion.id, list(range(1, 8)))
    clock = [now]
    slow = JobRunner(uow_factory, owner="slow", chunk_size=3, lease_ms=1000, clock=lambda: clock[0])
    fast = JobRunner(uow_factory, owner="fast", chunk_size=3, lease_ms=1000, clock=lambda: clock[0])
    async with uow_factory(write=True) as uow:
        claimed = await uow.jobs.claim("slow", now=clock[0], lease_ms=1000)
        await uow.commit()
    assert claimed is not None
    # the slow runner stalls past its lease; another one claims the job and runs it
    clock[0] += 1001
    assert await fast.run_next() is not None
    after_fast = store.state()
    # when the slow one wakes up and carries on with the job it claimed
    await slow.run(claimed)
    # then it writes nothing: every customer once, no chunk counted twice
    assert store.state() == after_fast
    done = await jobs.require_issue_job(uow_factory, principal, job.id)
    assert (done.state, done.issued_count, done.already_issued_count) == (JobState.SUCCEEDED, 7, 0)
    assert len(store.entries_of(principal.org_id)) == 7 == len(store.ledger)


# --- cancel, reads -------------------------------------------------------------------------


async def test_cancel_stops_a_queued_job_and_a_finished_one_cannot_be_cancelled(
    given: Given, store: FakeStore, uow_factory: FakeUnitOfWorkFactory, principal: Principal
) -> None:
    promotion = given.promotion()
    given.customers(1)
    job = await start(uow_factory, principal, promotion.id, [1])
    cancelled = await jobs.cancel_issue_job(uow_factory, principal, job.id)
    assert cancelled.state is JobState.CANCELLED and cancelled.finished_at is not None
    assert await runner(uow_factory).run_next() is None
    with pytest.raises(InvalidRequest):
        await jobs.cancel_issue_job(uow_factory, principal, job.id)
    assert store.entries_of(principal.org_id) == []


async def test_cancel_of_a_running_job_keeps_what_was_written_and_stops_after_the_chunk(
    given: Given, store: FakeStore, uow_factory: FakeUnitOfWorkFactory, principal: Principal
) -> None:
    promotion = given.promotion()
    given.customers(*range(1, 10))
    job = await start(uow_factory, principal, promotion.id, list(range(1, 10)))
    the_runner = runner(uow_factory)
    cancels: list[IssueJob] = []

    async def cancel() -> None:
        cancels.append(await jobs.cancel_issue_job(uow_factory, principal, job.id))

    # the cancel commits while the second chunk is in flight: that chunk meets it and is dropped
    the_runner.on_chunk = lambda _: None if cancels else uow_factory.before_next_commit(cancel)
    await the_runner.run_next()
    done = await jobs.require_issue_job(uow_factory, principal, job.id)
    assert done.state is JobState.CANCELLED and cancels
    assert done.processed == 3 == len(store.entries_of(principal.org_id)) == len(store.ledger)


async def test_another_orgs_job_is_not_found(
    given: Given, uow_factory: FakeUnitOfWorkFactory, principal: Principal
) -> None:
    promotion = given.promotion()
    job = await start(uow_factory, principal, promotion.id, [1])
    given.org(OTHER_ORG_ID)
    theirs = principal_of(OTHER_ORG_ID)
    assert await jobs.get_issue_job(uow_factory, theirs, job.id) is None
    with pytest.raises(IssueJobNotFound):
        await jobs.cancel_issue_job(uow_factory, theirs, job.id)
    assert await jobs.missing_customer_ids(uow_factory, theirs, job.id, first=10) == []
    assert (await jobs.issue_jobs_page(uow_factory, theirs, state=None, first=10, after=None)).items == []


async def test_jobs_page_newest_first_by_state(
    given: Given, uow_factory: FakeUnitOfWorkFactory, principal: Principal, now: int
) -> None:
    promotion = given.promotion(ends_in_days=30)
    made = [await start(uow_factory, principal, promotion.id, [i], now=now + i) for i in range(1, 4)]
    await jobs.cancel_issue_job(uow_factory, principal, made[1].id)
    first = await jobs.issue_jobs_page(uow_factory, principal, state=None, first=2, after=None)
    assert [j.id for j in first.items] == [made[2].id, made[1].id] and first.has_next_page
    rest = await jobs.issue_jobs_page(uow_factory, principal, state=None, first=2, after=first.cursors[-1])
    assert [j.id for j in rest.items] == [made[0].id] and not rest.has_next_page
    queued = await jobs.issue_jobs_page(uow_factory, principal, state=JobState.QUEUED, first=5, after=None)
    assert [j.id for j in queued.items] == [made[2].id, made[0].id]
    assert await jobs.issue_jobs_count(uow_factory, principal, state=JobState.CANCELLED) == 1


async def test_following_a_job_gives_it_now_then_each_change_and_ends_at_its_final_state(
    given: Given, uow_factory: FakeUnitOfWorkFactory, principal: Principal
) -> None:
    promotion = given.promotion()
    given.customers(1, 2, 3, 4)
    job = await start(uow_factory, principal, promotion.id, [1, 2, 3, 4])
    seen: list[tuple[JobState, int]] = []
    the_runner = runner(uow_factory, chunk_size=2)
    async for current in jobs.follow_issue_job(uow_factory, principal, job.id, every_s=0):
        seen.append((current.state, current.processed))
        if current.state is JobState.QUEUED:
            await the_runner.run_next()
    assert seen == [(JobState.QUEUED, 0), (JobState.SUCCEEDED, 4)]
    finished = [j.state async for j in jobs.follow_issue_job(uow_factory, principal, job.id, every_s=0)]
    assert finished == [JobState.SUCCEEDED]


async def test_following_another_orgs_job_is_not_found(
    given: Given, uow_factory: FakeUnitOfWorkFactory, principal: Principal
) -> None:
    job = await start(uow_factory, principal, given.promotion().id, [1])
    given.org(OTHER_ORG_ID)
    with pytest.raises(IssueJobNotFound):
        async for _ in jobs.follow_issue_job(uow_factory, principal_of(OTHER_ORG_ID), job.id, every_s=0):
            pass


async def test_a_runner_that_stops_gives_its_job_back_for_another_to_resume_at_once(
    given: Given, uow_factory: FakeUnitOfWorkFactory, principal: Principal, now: int
) -> None:
    promotion = given.promotion()
    given.customers(1, 2, 3)
    job = await start(uow_factory, principal, promotion.id, [1, 2, 3])
    stopping = JobRunner(uow_factory, owner="stopping", lease_ms=30_000, clock=lambda: now)
    async with uow_factory(write=True) as uow:
        assert await uow.jobs.claim("stopping", now=now, lease_ms=30_000) is not None
        await uow.commit()
    other = JobRunner(uow_factory, owner="other", lease_ms=30_000, clock=lambda: now + 1)
    assert await other.run_next() is None, "leased"
    await stopping.release()
    assert await other.run_next() is not None
    assert (await jobs.require_issue_job(uow_factory, principal, job.id)).state is JobState.SUCCEEDED
