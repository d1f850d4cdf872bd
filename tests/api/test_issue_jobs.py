"""startIssueJob / cancelIssueJob / issueJob / issueJobs over GraphQL, on SQLite and PostgreSQL:
the payloads, a refused start storing nothing, org scoping, skipMissing, the lifespan's runner,
and a job's end state against one issuePromotion call with the same arguments. The runner's rules
are proven on fakes in tests/services/test_jobs.py; kills and two processes in
tests/reliability/test_issue_jobs.py."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import func, select

from app.domain.clock import DAY_MS, now_ms
from app.persistence.tables import (
    earned_promotion_table,
    issue_job_table,
    wallet_ledger_table,
)
from app.services.job_runner import JobRunner
from app.settings import Settings
from tests.support import AppCache, ClientCredentials, GraphQLClient

JOB_FIELDS = """id state promotionId contextId total processed issuedCount alreadyIssuedCount
  missingCustomerIds createdAt startedAt finishedAt error { __typename code message
  ... on CustomerNotFoundError { customerIds } }"""
START = f"""mutation($p: String!, $c: String!, $ids: [Long]!, $skip: Boolean) {{
  startIssueJob(promotionId: $p, contextId: $c, customerIds: $ids, skipMissing: $skip) {{
    __typename ... on StartIssueJobSuccess {{ job {{ {JOB_FIELDS} }} }}
    ... on Error {{ code message }} ... on InvalidRequestError {{ field }} }} }}"""
CANCEL = f"""mutation($id: String!) {{ cancelIssueJob(id: $id) {{ __typename
  ... on CancelIssueJobSuccess {{ job {{ {JOB_FIELDS} }} }} ... on Error {{ code message }} }} }}"""
JOB = f"""query($id: String!) {{ issueJob(id: $id) {{ {JOB_FIELDS} }} }}"""
JOBS = """query($state: JobState, $first: Int, $after: String) {
  issueJobs(state: $state, first: $first, after: $after) {
  totalCount edges { cursor node { id state } } pageInfo { hasNextPage endCursor } } }"""
ISSUE = """mutation($p: String!, $c: String!, $ids: [Long]!) { issuePromotion(promotionId: $p, contextId: $c,
  customerIds: $ids) { __typename ... on IssuePromotionSuccess { issuedCount alreadyIssuedCount } } }"""


async def start(gql: GraphQLClient, promotion_id: str, ids: list[Any], **more: Any) -> dict[str, Any]:
    data = await gql.data(START, {"p": promotion_id, "c": "job-1", "ids": ids, **more})
    return data["startIssueJob"]  # type: ignore[no-any-return]


async def run_jobs(app: FastAPI, chunk_size: int = 2) -> None:
    runner = JobRunner(app.state.uow_factory, chunk_size=chunk_size, poll_s=0)
    while await runner.run_next() is not None:
        pass


async def job(gql: GraphQLClient, job_id: str) -> dict[str, Any]:
    return (await gql.data(JOB, {"id": job_id}))["issueJob"]  # type: ignore[no-any-return]


async def stored_jobs(app: FastAPI) -> int:
    async with app.state.database.reader.connect() as connection:
        return int((await connection.execute(select(func.count()).select_from(issue_job_table))).scalar_one())


async def test_a_started_job_is_queued_at_once_and_a_runner_issues_it(
    gql: GraphQLClient, app: FastAPI
) -> None:
    promotion = await gql.create_promotion()
    await gql.create_customers(11, 12, 13, 14, 15)
    started = await start(gql, promotion["id"], [11, 12, "13", 14, 15, 12])
    assert started["__typename"] == "StartIssueJobSuccess", started
    queued = started["job"]
    assert (queued["state"], queued["total"], queued["processed"], queued["startedAt"]) == (
        "QUEUED",
        5,
        0,
        None,
    )

    await run_jobs(app)
    done = await job(gql, queued["id"])
    assert (done["state"], done["processed"], done["issuedCount"], done["alreadyIssuedCount"]) == (
        "SUCCEEDED",
        5,
        5,
        0,
    )
    assert done["error"] is None and done["missingCustomerIds"] == []
    assert done["startedAt"] >= done["createdAt"] and done["finishedAt"] >= done["startedAt"]
    wallet = await gql.data("query { wallet(customerId: 13) { totalCount } }")
    assert wallet["wallet"]["totalCount"] == 1


async def test_a_refused_start_is_a_payload_error_and_stores_nothing(
    gql: GraphQLClient, app: FastAPI
) -> None:
    promotion = await gql.create_promotion(type="POS")
    refused = await start(gql, promotion["id"], [1])
    assert (refused["__typename"], refused["code"]) == ("PromotionTypeNotSupportedError", 707)
    bad_ids = await start(gql, promotion["id"], [1, None])
    assert (bad_ids["__typename"], bad_ids["code"]) == ("InvalidCustomerIdentifierError", 1006)
    unknown = await start(gql, "0" * 24, [1])
    assert unknown["__typename"] == "PromotionNotFoundError"
    assert await stored_jobs(app) == 0


async def test_a_start_past_max_job_ids_is_an_invalid_request(
    app_cache: AppCache, settings: Settings, org_clients: dict[str, ClientCredentials]
) -> None:
    small = settings.model_copy(update={"max_job_ids": 3})
    async with app_cache.serving(small) as app:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            gql = GraphQLClient(http=http, default=org_clients["admin"])
            promotion = await gql.create_promotion()
            refused = await start(gql, promotion["id"], [1, 2, 3, 4])
            assert (refused["__typename"], refused["field"]) == ("InvalidRequestError", "customerIds")
            assert await stored_jobs(app) == 0


async def test_missing_customers_fail_the_job_listing_them_and_skip_missing_issues_the_rest(
    gql: GraphQLClient, app: FastAPI
) -> None:
    promotion = await gql.create_promotion()
    await gql.create_customers(21, 23)
    strict = (await start(gql, promotion["id"], [21, 22, 23, 24]))["job"]
    lenient = (await start(gql, promotion["id"], [21, 22, 23, 24], skip=True))["job"]
    await run_jobs(app)

    failed = await job(gql, strict["id"])
    assert failed["state"] == "FAILED" and failed["issuedCount"] == 0
    assert failed["error"]["__typename"] == "CustomerNotFoundError" and failed["error"]["code"] == 404
    assert failed["error"]["customerIds"] == [22, 24] == failed["missingCustomerIds"]

    done = await job(gql, lenient["id"])
    assert (done["state"], done["issuedCount"], done["missingCustomerIds"]) == ("SUCCEEDED", 2, [22, 24])


async def test_cancel_stops_a_queued_job_and_refuses_a_finished_one(gql: GraphQLClient, app: FastAPI) -> None:
    promotion = await gql.create_promotion()
    await gql.create_customers(31)
    queued = (await start(gql, promotion["id"], [31]))["job"]
    cancelled = (await gql.data(CANCEL, {"id": queued["id"]}))["cancelIssueJob"]
    assert cancelled["__typename"] == "CancelIssueJobSuccess" and cancelled["job"]["state"] == "CANCELLED"
    again = (await gql.data(CANCEL, {"id": queued["id"]}))["cancelIssueJob"]
    assert (again["__typename"], again["code"]) == ("InvalidRequestError", 400)
    await run_jobs(app)
    assert (await job(gql, queued["id"]))["processed"] == 0


async def test_another_orgs_job_is_not_found_and_not_listed(
    gql: GraphQLClient, other_org_clients: dict[str, ClientCredentials]
) -> None:
    promotion = await gql.create_promotion()
    mine = (await start(gql, promotion["id"], [1]))["job"]
    theirs = other_org_clients["admin"]
    assert (await gql.data(JOB, {"id": mine["id"]}, as_=theirs))["issueJob"] is None
    cancel = (await gql.data(CANCEL, {"id": mine["id"]}, as_=theirs))["cancelIssueJob"]
    assert (cancel["__typename"], cancel["code"]) == ("IssueJobNotFoundError", 404)
    listed = (await gql.data(JOBS, {}, as_=theirs))["issueJobs"]
    assert listed["totalCount"] == 0 and listed["edges"] == []


async def test_jobs_are_listed_newest_first_and_filtered_by_state(gql: GraphQLClient) -> None:
    promotion = await gql.create_promotion()
    ids = [(await start(gql, promotion["id"], [n]))["job"]["id"] for n in (1, 2, 3)]
    await gql.data(CANCEL, {"id": ids[0]})
    page = (await gql.data(JOBS, {"first": 2}))["issueJobs"]
    assert [e["node"]["id"] for e in page["edges"]] == [ids[2], ids[1]] and page["totalCount"] == 3
    rest = (await gql.data(JOBS, {"first": 2, "after": page["pageInfo"]["endCursor"]}))["issueJobs"]
    assert [e["node"]["id"] for e in rest["edges"]] == [ids[0]] and not rest["pageInfo"]["hasNextPage"]
    cancelled = (await gql.data(JOBS, {"state": "CANCELLED"}))["issueJobs"]
    assert [e["node"]["id"] for e in cancelled["edges"]] == [ids[0]]


async def test_a_reader_can_watch_jobs_but_not_start_one(
    gql: GraphQLClient, org_clients: dict[str, ClientCredentials]
) -> None:
    promotion = await gql.create_promotion()
    body = await gql(START, {"p": promotion["id"], "c": "x", "ids": [1]}, as_=org_clients["reader"])
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert (await gql.data(JOBS, {}, as_=org_clients["reader"]))["issueJobs"]["totalCount"] == 0


async def test_the_app_with_jobs_enabled_runs_a_job_by_itself(
    app_cache: AppCache, settings: Settings, org_clients: dict[str, ClientCredentials]
) -> None:
    running = settings.model_copy(update={"jobs_enabled": True, "job_poll_seconds": 0.05})
    async with app_cache.serving(running) as app:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            gql = GraphQLClient(http=http, default=org_clients["admin"])
            promotion = await gql.create_promotion()
            await gql.create_customers(41, 42)
            started = (await start(gql, promotion["id"], [41, 42]))["job"]
            for _ in range(200):
                if (await job(gql, started["id"]))["state"] == "SUCCEEDED":
                    break
                await asyncio.sleep(0.05)
            assert (await job(gql, started["id"]))["issuedCount"] == 2


async def test_a_job_ends_in_the_state_of_one_issue_promotion_call_with_the_same_arguments(
    gql: GraphQLClient, app: FastAPI
) -> None:
    # given two identical promotions, customers, and entries some of them already hold
    same = {"redemptionWindowDays": 5, "maxRedemptionsPerEarn": 2, "startDate": 1_700_000_000_000}
    by_issue = await gql.create_promotion(**same, endDate=now_ms() + 30 * DAY_MS)
    by_job = await gql.create_promotion(**same, endDate=by_issue["endDate"])
    ids = list(range(51, 64))
    await gql.create_customers(*ids)
    for promotion in (by_issue, by_job):
        await gql.data(ISSUE, {"p": promotion["id"], "c": "job-1", "ids": [52, 60]})
    arguments = [63, 51, 52, 52, 55, *ids]
    # when one is issued by issuePromotion, the other by a job of the same arguments
    await gql.data(ISSUE, {"p": by_issue["id"], "c": "job-1", "ids": arguments})
    started = (await start(gql, by_job["id"], arguments))["job"]
    await run_jobs(app, chunk_size=4)
    # then both promotions' entries and ledger rows are the same, but for ids and times
    e, led = earned_promotion_table.c, wallet_ledger_table.c

    async def rows(promotion_id: str) -> tuple[list[Any], list[Any]]:
        async with app.state.database.reader.connect() as connection:
            entries = (
                await connection.execute(
                    select(
                        e.customer_id,
                        e.earned_from_type,
                        e.earned_from_id,
                        e.instance,
                        e.redemptions_allowed,
                        e.redemptions_used,
                        e.valid_till,
                        e.unlocks_at,
                        e.revoked_at,
                    )
                    .where(e.promotion_id == promotion_id)
                    .order_by(e.customer_id, e.instance)
                )
            ).all()
            ledger = (
                await connection.execute(
                    select(led.customer_id, led.kind, led.quantity, led.actor, led.source)
                    .where(led.promotion_id == promotion_id)
                    .order_by(led.customer_id, led.id)
                )
            ).all()
        return [tuple(r) for r in entries], [tuple(r) for r in ledger]

    assert await rows(by_job["id"]) == await rows(by_issue["id"])
    done = await job(gql, started["id"])
    assert (done["state"], done["total"], done["issuedCount"], done["alreadyIssuedCount"]) == (
        "SUCCEEDED",
        13,
        11,
        2,
    )


def test_the_default_body_limit_admits_a_start_of_max_job_ids_ids_of_19_digits() -> None:
    defaults = Settings(_env_file=None)  # type: ignore[call-arg]
    largest = [10**18 + n for n in range(defaults.max_job_ids)]  # 19 digits each
    body = json.dumps({"query": START, "variables": {"p": "0" * 24, "c": "x" * 250, "ids": largest}})
    assert len(body.encode()) <= defaults.max_body_bytes
