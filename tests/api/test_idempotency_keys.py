"""Idempotency-Key over HTTP, on both faces (DESIGN §8.3): replays byte for byte with
`Idempotent-Replayed: true` and nothing executed, 422 for another request under the key, 409 while
the first runs, 400 for a bad key, queries and GETs untouched, final refusals replayed, retryable
outcomes not stored, lapsed claims and expired keys working as new, keys per client. The rules are
proven on fakes in tests/services/test_idempotency.py; the cross-process race in
tests/reliability/test_idempotency_races.py."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from sqlalchemy import func, insert, select

from app.domain.clock import now_ms
from app.domain.errors import ResourceLocked
from app.persistence.database import Database
from app.persistence.tables import api_client_table, idempotency_key_table, promotion_table
from app.services import admin, issue
from app.settings import Settings
from tests.support import ClientCredentials, GraphQLClient

REST = "/api_gateway/v1/promotions"
TTL_SECONDS = 7200

CREATE = """mutation($input: CreatePromotionInput!) { createPromotion(input: $input) {
  __typename ... on CreatePromotionSuccess { promotion { id name } }
  ... on Error { code message retryable } } }"""
ISSUE = """mutation($p: String!, $c: String!, $ids: [Long]!) {
  issuePromotion(promotionId: $p, contextId: $c, customerIds: $ids) { __typename
    ... on IssuePromotionSuccess { issuedCount } ... on Error { code message } } }"""
IMPORT = """mutation($c: [CreateCustomerInput!]!) { importCustomers(customers: $c) {
  __typename ... on ImportCustomersSuccess { createdCount } } }"""


@pytest.fixture
def settings(database_url: str) -> Settings:
    """A retention other than the default, to see that the setting is the one applied."""
    return Settings(  # type: ignore[call-arg]
        database_url=database_url, demo_mode=False, idempotency_ttl_seconds=TTL_SECONDS, _env_file=None
    )


def promotion_input(name: str = "Keyed") -> dict[str, Any]:
    now = now_ms()
    return {"name": name, "type": "CUSTOMER", "startDate": now - 1000, "endDate": now + 86_400_000}


async def post_graphql(
    http: httpx.AsyncClient,
    credentials: ClientCredentials,
    key: str | bytes | None,
    query: str,
    variables: dict[str, Any] | None = None,
    *,
    raw: bytes | None = None,
) -> httpx.Response:
    headers = dict(credentials.headers) | {"content-type": "application/json"}
    if key is not None:
        headers["Idempotency-Key"] = key  # type: ignore[assignment]
    content = raw if raw is not None else json.dumps({"query": query, "variables": variables or {}}).encode()
    return await http.post("/graphql", content=content, headers=headers)


async def count(database: Database, table: Any) -> int:
    async with database.reader.connect() as connection:
        return int((await connection.execute(select(func.count()).select_from(table))).scalar_one())


async def stored_keys(database: Database) -> list[dict[str, Any]]:
    async with database.reader.connect() as connection:
        rows = (await connection.execute(select(idempotency_key_table))).all()
    return [dict(row._mapping) for row in rows]


def replayed(response: httpx.Response) -> bool:
    return response.headers.get("Idempotent-Replayed") == "true"


# --- GraphQL ---------------------------------------------------------------------------------------


async def test_a_repeated_mutation_is_answered_byte_for_byte_from_the_store_and_runs_once(
    http: httpx.AsyncClient, org_clients: dict[str, ClientCredentials], database: Database
) -> None:
    # given
    admin_ = org_clients["admin"]
    variables = {"input": promotion_input()}
    first = await post_graphql(http, admin_, "create-1", CREATE, variables)
    assert first.status_code == 200 and not replayed(first), first.text
    assert first.json()["data"]["createPromotion"]["__typename"] == "CreatePromotionSuccess"
    # when the same request comes again, its JSON laid out otherwise, its document re-indented
    body = {"variables": {"input": dict(reversed(list(variables["input"].items())))}, "query": "  " + CREATE}
    again = await post_graphql(http, admin_, "create-1", CREATE, raw=json.dumps(body, indent=2).encode())
    # then
    assert (again.status_code, again.content) == (first.status_code, first.content)
    assert replayed(again)
    assert again.headers["content-type"] == first.headers["content-type"]
    assert await count(database, promotion_table) == 1
    [row] = await stored_keys(database)
    assert (row["response_status"], row["response_body"]) == (200, first.content)
    assert row["expires_at"] - row["created_at"] == TTL_SECONDS * 1000


async def test_the_same_key_with_other_variables_is_a_422_reused_error_and_runs_nothing(
    http: httpx.AsyncClient, org_clients: dict[str, ClientCredentials], database: Database
) -> None:
    # given
    admin_ = org_clients["admin"]
    await post_graphql(http, admin_, "create-2", CREATE, {"input": promotion_input("one")})
    # when
    response = await post_graphql(http, admin_, "create-2", CREATE, {"input": promotion_input("two")})
    # then
    assert response.status_code == 422, response.text
    error = response.json()["errors"][0]
    assert error["extensions"]["code"] == "IDEMPOTENCY_KEY_REUSED"
    assert "different request" in error["message"]
    assert not replayed(response)
    assert await count(database, promotion_table) == 1


@pytest.mark.parametrize("key", ["", "k" * 256, b"caf\xe9", "tab\tkey"])
async def test_a_key_that_is_not_1_to_255_printable_ascii_characters_is_a_400_and_runs_nothing(
    http: httpx.AsyncClient, org_clients: dict[str, ClientCredentials], database: Database, key: str | bytes
) -> None:
    # when
    response = await post_graphql(http, org_clients["admin"], key, CREATE, {"input": promotion_input()})
    # then
    assert response.status_code == 400, response.text
    error = response.json()["errors"][0]
    assert error["extensions"]["code"] == "IDEMPOTENCY_KEY_INVALID"
    assert "1 to 255 printable ASCII" in error["message"]
    assert await count(database, promotion_table) == 0
    assert await stored_keys(database) == []


async def test_a_query_ignores_the_header_even_a_malformed_one(
    http: httpx.AsyncClient, org_clients: dict[str, ClientCredentials], database: Database
) -> None:
    # given a document with a query and a mutation: the operation chosen decides
    document = "query Q { __typename } " + CREATE.replace("mutation(", "mutation M(")
    body = json.dumps({"query": document, "operationName": "Q"}).encode()
    # when
    first = await post_graphql(http, org_clients["admin"], "", document, raw=body)
    second = await post_graphql(http, org_clients["admin"], "q-1", document, raw=body)
    # then
    assert (first.status_code, second.status_code) == (200, 200), first.text
    assert first.json() == {"data": {"__typename": "Query"}}
    assert not replayed(second)
    assert await stored_keys(database) == []


async def test_a_typed_payload_error_is_a_final_answer_stored_and_replayed(
    http: httpx.AsyncClient, org_clients: dict[str, ClientCredentials], database: Database, monkeypatch: Any
) -> None:
    # given an issue of a promotion that does not exist: PromotionNotFoundError in a 200
    calls = count_calls(monkeypatch, issue, "issue_promotion")
    variables = {"p": "0" * 24, "c": "ctx", "ids": [1]}
    first = await post_graphql(http, org_clients["admin"], "issue-404", ISSUE, variables)
    assert first.json()["data"]["issuePromotion"]["__typename"] == "PromotionNotFoundError", first.text
    # when
    again = await post_graphql(http, org_clients["admin"], "issue-404", ISSUE, variables)
    # then
    assert (again.status_code, again.content, replayed(again)) == (200, first.content, True)
    assert calls == [1]


async def test_a_retryable_payload_error_is_not_stored_and_the_retry_executes(
    http: httpx.AsyncClient, org_clients: dict[str, ClientCredentials], database: Database, monkeypatch: Any
) -> None:
    # given the first attempt meets a held wallet lock (ResourceLockedError, 521, in a 200)
    real = admin.create_promotion
    attempts: list[int] = []

    async def locked_once(*args: Any, **kwargs: Any) -> Any:
        attempts.append(1)
        if len(attempts) == 1:
            raise ResourceLocked("the wallet lock was not acquired", retry_after_ms=100)
        return await real(*args, **kwargs)

    monkeypatch.setattr(admin, "create_promotion", locked_once)
    variables = {"input": promotion_input()}
    first = await post_graphql(http, org_clients["admin"], "create-521", CREATE, variables)
    assert first.json()["data"]["createPromotion"]["__typename"] == "ResourceLockedError", first.text
    assert await stored_keys(database) == []
    # when the client retries with the same key
    retry = await post_graphql(http, org_clients["admin"], "create-521", CREATE, variables)
    # then it executed, and that answer is the one kept
    assert retry.json()["data"]["createPromotion"]["__typename"] == "CreatePromotionSuccess"
    assert not replayed(retry)
    replay = await post_graphql(http, org_clients["admin"], "create-521", CREATE, variables)
    assert (replay.content, replayed(replay)) == (retry.content, True)
    assert len(attempts) == 2


async def test_an_unexpected_failure_frees_the_key(
    http: httpx.AsyncClient, org_clients: dict[str, ClientCredentials], database: Database, monkeypatch: Any
) -> None:
    async def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("boom")

    monkeypatch.setattr(admin, "create_promotion", broken)
    variables = {"input": promotion_input()}
    response = await post_graphql(http, org_clients["admin"], "create-500", CREATE, variables)
    assert response.json()["data"]["createPromotion"]["__typename"] == "InternalError", response.text
    assert await stored_keys(database) == []


async def test_the_same_request_while_the_first_runs_is_a_409_with_retry_after(
    http: httpx.AsyncClient, org_clients: dict[str, ClientCredentials], database: Database, monkeypatch: Any
) -> None:
    # given a first request held inside its resolver
    entered, go_on = asyncio.Event(), asyncio.Event()
    real = admin.create_promotion

    async def slow(*args: Any, **kwargs: Any) -> Any:
        entered.set()
        await go_on.wait()
        return await real(*args, **kwargs)

    monkeypatch.setattr(admin, "create_promotion", slow)
    variables = {"input": promotion_input()}
    first = asyncio.create_task(post_graphql(http, org_clients["admin"], "create-409", CREATE, variables))
    await entered.wait()
    # when
    during = await post_graphql(http, org_clients["admin"], "create-409", CREATE, variables)
    # then
    assert during.status_code == 409, during.text
    assert during.json()["errors"][0]["extensions"]["code"] == "IDEMPOTENCY_KEY_IN_PROGRESS"
    assert int(during.headers["Retry-After"]) >= 1
    go_on.set()
    answered = await first
    after = await post_graphql(http, org_clients["admin"], "create-409", CREATE, variables)
    assert (after.content, replayed(after)) == (answered.content, True)
    assert await count(database, promotion_table) == 1


async def plant(database: Database, username: str, key: str, **values: Any) -> None:
    """A row as a process would have left it (e.g. one killed mid-request)."""
    now = now_ms()
    async with database.writer.begin() as connection:
        clients = api_client_table.c
        client_id = (
            await connection.execute(select(clients.id).where(clients.username == username))
        ).scalar_one()
        row = {
            "client_id": client_id,
            "idempotency_key": key,
            "fingerprint": "f" * 64,
            "claim": "c" * 32,
            "created_at": now - 10_000,
            "claimed_until": now + 60_000,
            "expires_at": now + 86_400_000,
        }
        await connection.execute(insert(idempotency_key_table).values(row | values))


async def test_a_claim_left_by_a_killed_request_lapses_after_the_claim_window(
    http: httpx.AsyncClient, org_clients: dict[str, ClientCredentials], database: Database
) -> None:
    # given two claims never answered, one still within its window, one past it
    username = org_clients["admin"].username
    await plant(database, username, "running")
    await plant(database, username, "dead", claimed_until=now_ms() - 1)
    variables = {"input": promotion_input()}
    # when / then: the live claim still holds its key (for another request: 422)
    assert (await post_graphql(http, org_clients["admin"], "running", CREATE, variables)).status_code == 422
    # the lapsed one is taken over and the request executes
    taken = await post_graphql(http, org_clients["admin"], "dead", CREATE, variables)
    assert taken.json()["data"]["createPromotion"]["__typename"] == "CreatePromotionSuccess", taken.text
    assert await count(database, promotion_table) == 1


EXPIRED = {"expires_at": 1, "response_status": 200, "response_body": b"{}"}


async def test_expired_keys_are_purged_by_new_claims_and_an_expired_key_works_as_new(
    http: httpx.AsyncClient, org_clients: dict[str, ClientCredentials], database: Database
) -> None:
    # given two answered keys past their retention
    username = org_clients["admin"].username
    for key in ("old-1", "old-2"):
        await plant(database, username, key, **EXPIRED)
    variables = {"input": promotion_input()}
    # when a new key is claimed
    await post_graphql(http, org_clients["admin"], "fresh", CREATE, variables)
    # then the expired rows are gone
    assert {row["idempotency_key"] for row in await stored_keys(database)} == {"fresh"}
    # and an expired key (planted again) is a new request, not a replay
    await plant(database, username, "old-1", **EXPIRED)
    again = await post_graphql(http, org_clients["admin"], "old-1", CREATE, variables)
    assert again.json()["data"]["createPromotion"]["__typename"] == "CreatePromotionSuccess"
    assert not replayed(again)


async def test_keys_of_two_clients_never_collide(
    http: httpx.AsyncClient,
    org_clients: dict[str, ClientCredentials],
    other_org_clients: dict[str, ClientCredentials],
    database: Database,
) -> None:
    # given one client's answered request under a key
    mine, theirs = org_clients["admin"], other_org_clients["admin"]
    variables = {"input": promotion_input()}
    first = await post_graphql(http, mine, "shared", CREATE, variables)
    # when another client sends the very same request with the same key
    other = await post_graphql(http, theirs, "shared", CREATE, variables)
    # then it is a new request of its own: executed, not a replay of the first client's answer
    assert other.json()["data"]["createPromotion"]["__typename"] == "CreatePromotionSuccess", other.text
    assert not replayed(other) and other.content != first.content
    assert await count(database, promotion_table) == 2
    # and each client's replay is its own answer
    assert (await post_graphql(http, mine, "shared", CREATE, variables)).content == first.content
    assert (await post_graphql(http, theirs, "shared", CREATE, variables)).content == other.content
    assert len(await stored_keys(database)) == 2


async def test_without_valid_credentials_the_header_changes_nothing_401(
    http: httpx.AsyncClient, org_clients: dict[str, ClientCredentials], database: Database
) -> None:
    bad = ClientCredentials(org_clients["admin"].username, "wrong")
    response = await post_graphql(http, bad, "k", CREATE, {"input": promotion_input()})
    assert response.status_code == 401
    assert await stored_keys(database) == []


# --- REST ------------------------------------------------------------------------------------------


def count_calls(monkeypatch: Any, module: Any, name: str) -> list[int]:
    """Counts the calls of a service function (which still runs)."""
    real: Callable[..., Awaitable[Any]] = getattr(module, name)
    calls: list[int] = []

    async def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return await real(*args, **kwargs)

    monkeypatch.setattr(module, name, counted)
    return calls


async def rest_post(
    http: httpx.AsyncClient, credentials: ClientCredentials, key: str | None, path: str, body: bytes
) -> httpx.Response:
    headers = dict(credentials.headers) | {"content-type": "application/json"}
    if key is not None:
        headers["Idempotency-Key"] = key
    return await http.post(f"{REST}{path}", content=body, headers=headers)


@pytest.fixture
async def promotion(gql: GraphQLClient) -> str:
    await gql.data(IMPORT, {"c": [{"id": 11}, {"id": 12}]})
    created = await gql.create_promotion()
    return str(created["id"])


async def test_a_repeated_rest_post_is_replayed_byte_for_byte_whatever_the_query_order_and_layout(
    http: httpx.AsyncClient,
    org_clients: dict[str, ClientCredentials],
    promotion: str,
    monkeypatch: Any,
) -> None:
    # given
    calls = count_calls(monkeypatch, issue, "issue_promotion")
    writer = org_clients["writer"]
    first = await rest_post(http, writer, "rest-1", f"/{promotion}/issueBulk?contextId=c1&x=1", b"[11, 12]")
    assert first.status_code == 200 and not replayed(first), first.text
    # when: the query parameters in another order, the body laid out otherwise
    again = await rest_post(http, writer, "rest-1", f"/{promotion}/issueBulk?x=1&contextId=c1", b" [11,12] ")
    # then
    assert (again.status_code, again.content, replayed(again)) == (200, first.content, True)
    assert calls == [1]


async def test_a_rest_post_reusing_a_key_for_another_body_is_a_422_in_the_rest_error_shape(
    http: httpx.AsyncClient, org_clients: dict[str, ClientCredentials], promotion: str
) -> None:
    writer = org_clients["writer"]
    await rest_post(http, writer, "rest-2", f"/{promotion}/issueBulk?contextId=c1", b"[11]")
    response = await rest_post(http, writer, "rest-2", f"/{promotion}/issueBulk?contextId=c1", b"[12]")
    assert response.status_code == 422
    [error] = response.json()["errors"]
    assert (error["code"], error["reason"]) == (422, "IDEMPOTENCY_KEY_REUSED")
    other_path = await rest_post(http, writer, "rest-2", f"/{promotion}/issueBulk?contextId=c2", b"[11]")
    assert other_path.status_code == 422


async def test_a_rest_post_with_a_bad_key_is_a_400_in_the_rest_error_shape(
    http: httpx.AsyncClient, org_clients: dict[str, ClientCredentials], promotion: str, database: Database
) -> None:
    path = f"/{promotion}/issueBulk?contextId=c"
    response = await rest_post(http, org_clients["writer"], "k" * 256, path, b"[11]")
    assert response.status_code == 400
    [error] = response.json()["errors"]
    assert (error["code"], error["reason"]) == (400, "IDEMPOTENCY_KEY_INVALID")
    assert await stored_keys(database) == []


async def test_a_rest_404_is_final_and_replayed(
    http: httpx.AsyncClient, org_clients: dict[str, ClientCredentials], database: Database, monkeypatch: Any
) -> None:
    calls = count_calls(monkeypatch, issue, "issue_promotion")
    path = f"/{'0' * 24}/issueBulk?contextId=c"
    first = await rest_post(http, org_clients["writer"], "rest-404", path, b"[1]")
    assert first.status_code == 404, first.text
    again = await rest_post(http, org_clients["writer"], "rest-404", path, b"[1]")
    assert (again.status_code, again.content, replayed(again)) == (404, first.content, True)
    assert calls == [1]


async def test_a_rest_503_for_a_held_lock_is_not_stored_and_the_retry_executes(
    http: httpx.AsyncClient,
    org_clients: dict[str, ClientCredentials],
    promotion: str,
    database: Database,
    monkeypatch: Any,
) -> None:
    # given the first attempt meets a held wallet lock (521: REST's 503)
    real = issue.issue_promotion
    attempts: list[int] = []

    async def locked_once(*args: Any, **kwargs: Any) -> Any:
        attempts.append(1)
        if len(attempts) == 1:
            raise ResourceLocked("the wallet lock was not acquired", retry_after_ms=100)
        return await real(*args, **kwargs)

    monkeypatch.setattr(issue, "issue_promotion", locked_once)
    path = f"/{promotion}/issueBulk?contextId=c"
    first = await rest_post(http, org_clients["writer"], "rest-503", path, b"[11]")
    assert first.status_code == 503 and "Retry-After" in first.headers, first.text
    assert await stored_keys(database) == []
    # when / then
    retry = await rest_post(http, org_clients["writer"], "rest-503", path, b"[11]")
    assert retry.status_code == 200 and not replayed(retry)
    assert len(attempts) == 2


async def test_a_rest_get_ignores_the_header(
    http: httpx.AsyncClient, org_clients: dict[str, ClientCredentials], database: Database
) -> None:
    headers = dict(org_clients["reader"].headers) | {"Idempotency-Key": ""}
    response = await http.get(f"{REST}/customer/11", headers=headers)
    assert response.status_code == 200, response.text
    assert await stored_keys(database) == []
