"""Bulk issue jobs across real server processes (DESIGN §8.4), on SQLite and PostgreSQL:

- a 60,000-customer job whose server is SIGKILLed mid-way is resumed by the restarted server once
  the dead one's lease ran out, and ends SUCCEEDED with exactly one entry (and ledger row) per
  customer, every customer counted once, and the invariant checker silent;
- two serve processes on one job never commit a chunk twice: whichever holds the job is stopped
  (SIGSTOP) past its lease and continued, again and again, so the job changes hands (both
  processes' metrics show rows issued) and the stopped one wakes up believing it still runs it;
  still nobody finds a repeat (alreadyIssuedCount 0) and every customer has one ledger row."""

from __future__ import annotations

import asyncio
import os
import random
import re
import signal
import time
from contextlib import ExitStack
from typing import Any

from sqlalchemy import select

from app.persistence.tables import (
    issue_job_table,
)
from tests.reliability.harness import (
    Org,
    assert_invariants_hold,
    counts,
    engine_for,
    insert_customers,
    new_org,
)
from tests.subscriptions import subscription_connection
from tests.support import server_process

START = """mutation($p: String!, $c: String!, $ids: [Long]!) {
  startIssueJob(promotionId: $p, contextId: $c, customerIds: $ids) { __typename
    ... on StartIssueJobSuccess { job { id state total } } ... on Error { code message } } }"""
JOB = """query($id: String!) { issueJob(id: $id) {
  id state total processed issuedCount alreadyIssuedCount } }"""


async def read_job(org: Org, job_id: str) -> dict[str, Any]:
    response = await org.http.post(
        f"{org.base_urls[0]}/graphql", json={"query": JOB, "variables": {"id": job_id}}, headers=org.headers
    )
    assert response.status_code == 200, response.text
    return response.json()["data"]["issueJob"]  # type: ignore[no-any-return]


async def wait_for(org: Org, job_id: str, done: Any, within_s: float = 240) -> dict[str, Any]:
    deadline = time.monotonic() + within_s
    while True:
        job = await read_job(org, job_id)
        if done(job):
            return job
        assert time.monotonic() < deadline, f"job never got there: {job}"
        await asyncio.sleep(0.05)


async def start_job(org: Org, promotion_id: str, ids: list[int]) -> str:
    payload = await org.call(START, {"p": promotion_id, "c": "job-campaign", "ids": ids})
    assert payload["__typename"] == "StartIssueJobSuccess", payload
    return str(payload["job"]["id"])


# A lease of 2 s: the restarted server's runner may take the job over 2 s after the kill.
FAST_LEASE = {"PROMO_WALLET_JOB_LEASE_SECONDS": "2", "PROMO_WALLET_JOB_POLL_SECONDS": "0.1"}


async def test_a_job_whose_server_is_killed_mid_way_is_resumed_by_the_restarted_server(
    database_url: str,
) -> None:
    # given an org with 60,000 customers and a promotion
    total = 60_000
    org = await new_org(database_url, [])
    ids = await insert_customers(database_url, org.org_id, 8_000_000_001, total)
    try:
        with server_process(database_url, **FAST_LEASE) as server:
            org.base_urls = [server.url]
            promotion = await org.promotion()
            job_id = await start_job(org, promotion, ids)
            # when the server is SIGKILLed once the job has committed a chunk or more, not all
            running = await wait_for(org, job_id, lambda j: j["processed"] > 0)
            server.kill()
        assert running["state"] == "RUNNING" and running["processed"] < total, running
        # then whole chunks survived, each entry with its ledger row, and the database is consistent
        entries, holders, ledger = await counts(database_url, org.org_id)
        assert 0 < entries < total and holders == entries == ledger
        await assert_invariants_hold(database_url)

        # when the server is started again, it resumes the job once the dead one's lease ran out
        with server_process(database_url, **FAST_LEASE) as server:
            org.base_urls = [server.url]
            done = await wait_for(org, job_id, lambda j: j["state"] != "RUNNING")
        # then exactly one entry per customer, and every customer counted once
        assert done["state"] == "SUCCEEDED", done
        assert done["issuedCount"] + done["alreadyIssuedCount"] == done["total"] == total
        assert done["alreadyIssuedCount"] == 0, "a chunk of the dead server was written twice"
        assert await counts(database_url, org.org_id) == (total, total, total)
        await assert_invariants_hold(database_url)
    finally:
        await org.close()


async def rows_issued_by_jobs(org: Org, base_url: str) -> float:
    text = (await org.http.get(f"{base_url}/metrics")).text
    found = re.search(r"^promo_wallet_issue_job_rows_total (\S+)$", text, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


async def job_row(database_url: str, job_id: str) -> Any:
    """The job as stored (read from the database: a stopped server cannot answer)."""
    j = issue_job_table.c
    engine = engine_for(database_url)
    try:
        async with engine.connect() as connection:
            return (await connection.execute(select(issue_job_table).where(j.id == job_id))).one()
    finally:
        await engine.dispose()


async def test_two_serve_processes_never_commit_a_chunk_of_one_job_twice(database_url: str) -> None:
    # given two servers running jobs, with short leases and small chunks
    total = 100_000
    lease_s = 0.3
    org = await new_org(database_url, [])
    ids = await insert_customers(database_url, org.org_id, 7_000_000_001, total)
    settings = {
        "PROMO_WALLET_JOB_LEASE_SECONDS": str(lease_s),
        "PROMO_WALLET_JOB_POLL_SECONDS": "0.02",
        # Many small chunks, many stops: a stopped holder keeps the job row locked until its chunk
        # commits, then loses its lease, and the job goes to whichever runner claims it first,
        # which may be the one just continued; each stop is one more chance for the other.
        "PROMO_WALLET_JOB_CHUNK_SIZE": "500",
    }
    try:
        with ExitStack() as stack:
            servers = [stack.enter_context(server_process(database_url, **settings)) for _ in range(2)]
            org.base_urls = [servers[0].url]
            promotion = await org.promotion()
            # when one job runs, and whichever server holds it is stopped (SIGSTOP) past its lease
            # and continued, again and again: the other one takes the job over, and the stopped one
            # wakes up believing it still runs it (mid-chunk, or between two)
            job_id = await start_job(org, promotion, ids)
            stops = 0
            deadline = time.monotonic() + 240
            while (row := await job_row(database_url, job_id)).state in ("QUEUED", "RUNNING"):
                assert time.monotonic() < deadline, row
                owner = next((s for s in servers if f":{s.pid}:" in row.lease_owner), None)
                if owner is None:
                    await asyncio.sleep(0.02)
                    continue
                os.kill(owner.pid, signal.SIGSTOP)
                await asyncio.sleep(lease_s + 0.2)
                os.kill(owner.pid, signal.SIGCONT)
                stops += 1
                # A takeover needs the stop to land where the holder's lease can lapse (not while
                # its chunk holds the job row): a varying pause keeps the stops from falling into
                # step with the chunks, as a loaded machine can make them.
                await asyncio.sleep(random.uniform(0.05, 0.3))
            by_server = [await rows_issued_by_jobs(org, server.url) for server in servers]
        # then both servers committed chunks of it, and no chunk was committed twice
        assert stops > 0
        assert all(rows > 0 for rows in by_server), (by_server, stops)
        assert sum(by_server) == total
        assert row.state == "SUCCEEDED", row
        assert (row.issued_count, row.already_issued_count) == (total, 0)
        assert await counts(database_url, org.org_id) == (total, total, total)
        await assert_invariants_hold(database_url)
    finally:
        await org.close()


PROGRESS = """subscription($id: String!) { issueJobProgress(id: $id) {
  id state processed total issuedCount } }"""


async def test_issue_job_progress_follows_a_job_run_by_another_process_to_its_end(database_url: str) -> None:
    # given a server that runs jobs and one that runs none, where the subscriber is connected
    total = 20_000
    org = await new_org(database_url, [])
    ids = await insert_customers(database_url, org.org_id, 6_000_000_001, total)
    stranger = await new_org(database_url, [])
    runner_env = {"PROMO_WALLET_JOB_CHUNK_SIZE": "1000", "PROMO_WALLET_JOB_POLL_SECONDS": "0.05"}
    try:
        with (
            server_process(database_url, **runner_env) as runner,
            server_process(database_url, PROMO_WALLET_JOBS_ENABLED="false") as watcher,
        ):
            org.base_urls = stranger.base_urls = [watcher.url]
            promotion = await org.promotion()
            async with subscription_connection(watcher.url, headers=org.headers) as client:
                # when a job is started and its progress subscribed to on the process not running it
                job_id = await start_job(org, promotion, ids)
                operation = await client.subscribe(PROGRESS, {"id": job_id})
                pushed: list[dict[str, Any]] = []
                while (message := await client.receive(60))["type"] == "next":
                    assert "errors" not in message["payload"], message
                    pushed.append(message["payload"]["data"]["issueJobProgress"])
                # then it sent the job as it went, and completed at its final state
                assert message == {"id": operation, "type": "complete"}, message
                assert len(pushed) >= 2, pushed
                # each push tells something new: a state or a chunk further on
                steps = [(p["processed"], p["state"]) for p in pushed]
                assert steps == sorted(set(steps), key=steps.index)
                assert [p["processed"] for p in pushed] == sorted(p["processed"] for p in pushed)
                assert pushed[-1] == {
                    "id": job_id,
                    "state": "SUCCEEDED",
                    "processed": total,
                    "total": total,
                    "issuedCount": total,
                }
                # and a finished job: its final state, then complete
                again = await client.subscribe(PROGRESS, {"id": job_id})
                final = await client.receive(10)
                assert final["payload"]["data"]["issueJobProgress"]["state"] == "SUCCEEDED"
                assert await client.receive(10) == {"id": again, "type": "complete"}
            # and another org's subscriber is told the job is not found
            async with subscription_connection(watcher.url, headers=stranger.headers) as client:
                await client.subscribe(PROGRESS, {"id": job_id})
                refused = await client.receive(10)
            assert runner.pid != watcher.pid
        errors = refused["payload"] if refused["type"] == "error" else refused["payload"]["errors"]
        assert errors[0]["extensions"]["code"] == "NOT_FOUND", refused
    finally:
        await org.close()
        await stranger.close()
