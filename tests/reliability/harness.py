"""Shared pieces of the reliability suite: GraphQL documents, server processes that can be
SIGKILLed, an org per test on a shared database, and the "everything the clients saw is in the
database" helpers."""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass, field
from typing import Any

import httpx
from sqlalchemy import func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from app.domain.clock import now_ms
from app.persistence.database import create_database
from app.persistence.invariants import check_database, format_report
from app.persistence.tables import (
    customer_table,
    earned_promotion_table,
    redemption_consumption_table,
    redemption_table,
    wallet_ledger_table,
)
from app.persistence.uow import SqlUnitOfWorkFactory
from app.services import admin
from app.settings import Settings
from tests.support import add_test_client, basic_auth

ISSUE = """mutation($p: String!, $c: String!, $ids: [Long]!) {
  issuePromotion(promotionId: $p, contextId: $c, customerIds: $ids) { __typename
    ... on IssuePromotionSuccess { issuedCount alreadyIssuedCount earnedPromotions { id customerId } }
    ... on Error { code message retryable } } }"""

ISSUE_COUNTS = """mutation($p: String!, $c: String!, $ids: [Long]!) {
  issuePromotion(promotionId: $p, contextId: $c, customerIds: $ids) { __typename
    ... on IssuePromotionSuccess { issuedCount alreadyIssuedCount }
    ... on Error { code message retryable } } }"""

EARN = """mutation($input: EarnPromotionsInput!) { earnPromotions(input: $input) { __typename
  ... on EarnPromotionsSuccess { results { promotionId earnedFromId successfulEarnCount failedEarnCount
      error { code } customerEarnedPromotions { id } } }
  ... on Error { code message retryable } } }"""

REDEEM = """mutation($input: RedeemPromotionsInput!) { redeemPromotions(input: $input) { __typename
  ... on RedeemPromotionsSuccess { redemption { id transactionIdentifier customerId
      consumed { earnedPromotionId promotionId count } } }
  ... on PromotionNotRedeemableError { reason }
  ... on Error { code message retryable } } }"""

REVOKE = """mutation($c: Long!, $ids: [String!]!) {
  revokeEarnedPromotions(customerId: $c, earnedPromotionIds: $ids) { __typename
  ... on RevokeEarnedPromotionsSuccess { revokedCount
      results { earnedPromotionId revoked
                error { __typename ... on PromotionNotRedeemableError { reason } } } }
  ... on Error { code message retryable } } }"""

CREATE_PROMOTION = """mutation($input: CreatePromotionInput!) { createPromotion(input: $input) {
  __typename ... on CreatePromotionSuccess { promotion { id } } ... on Error { code message } } }"""

IMPORT_CUSTOMERS = """mutation($c: [CreateCustomerInput!]!) { importCustomers(customers: $c) {
  __typename ... on ImportCustomersSuccess { createdCount } ... on Error { code message } } }"""

RETRYABLE = {"ResourceLockedError", "InternalError"}

_org_ids = itertools.count(700_001)


def engine_for(database_url: str) -> AsyncEngine:
    return create_async_engine(database_url, poolclass=NullPool)


async def assert_invariants_hold(database_url: str) -> None:
    violations = await check_database(database_url)
    assert not violations, format_report(violations)


@dataclass
class Org:
    """An org of its own on a shared database, with an admin client, talking to some servers."""

    database_url: str
    org_id: int
    headers: dict[str, str]
    http: httpx.AsyncClient
    base_urls: list[str]
    _turn: itertools.count[int] = field(default_factory=itertools.count)

    def next_url(self) -> str:
        return self.base_urls[next(self._turn) % len(self.base_urls)]

    async def call(
        self, query: str, variables: dict[str, Any], base_url: str | None = None
    ) -> dict[str, Any]:
        """The mutation's payload; a transport-level failure or top-level error fails the test."""
        response = await self.http.post(
            f"{base_url or self.next_url()}/graphql",
            json={"query": query, "variables": variables},
            headers=self.headers,
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert "errors" not in body, body
        (payload,) = body["data"].values()
        return payload  # type: ignore[no-any-return]

    async def call_until_done(
        self, query: str, variables: dict[str, Any], attempts: int = 20
    ) -> dict[str, Any]:
        """Like a careful client: retry what the API says is retryable, after retryAfterMs."""
        for _ in range(attempts - 1):
            payload = await self.call(query, variables)
            if payload["__typename"] not in RETRYABLE:
                return payload
            assert payload["retryable"] is True, payload
            await asyncio.sleep(0.05)
        return await self.call(query, variables)

    async def promotion(self, **overrides: Any) -> str:
        from app.domain.clock import DAY_MS, now_ms

        now = now_ms()
        values = {
            "name": "Reliability",
            "type": "CUSTOMER",
            "startDate": now - DAY_MS,
            "endDate": now + 30 * DAY_MS,
        } | overrides
        payload = await self.call_until_done(CREATE_PROMOTION, {"input": values})
        assert payload["__typename"] == "CreatePromotionSuccess", payload
        return str(payload["promotion"]["id"])

    async def customers(self, ids: list[int]) -> None:
        for start in range(0, len(ids), 10_000):
            payload = await self.call_until_done(
                IMPORT_CUSTOMERS, {"c": [{"id": i} for i in ids[start : start + 10_000]]}
            )
            assert payload["__typename"] == "ImportCustomersSuccess", payload

    async def issue(self, promotion_id: str, context_id: str, customer_ids: list[int]) -> dict[int, str]:
        payload = await self.call_until_done(ISSUE, {"p": promotion_id, "c": context_id, "ids": customer_ids})
        assert payload["__typename"] == "IssuePromotionSuccess", payload
        return {int(x["customerId"]): x["id"] for x in payload["earnedPromotions"]}

    async def close(self) -> None:
        await self.http.aclose()


async def new_org(database_url: str, base_urls: list[str]) -> Org:
    database = create_database(Settings(database_url=database_url, _env_file=None))  # type: ignore[call-arg]
    org_id = next(_org_ids)
    try:
        await admin.create_org(
            SqlUnitOfWorkFactory(database), org_id=org_id, name=f"Org {org_id}", timezone="Asia/Kolkata"
        )
        await add_test_client(
            database,
            org_id=org_id,
            name="admin",
            scopes=["admin", "wallet:read", "wallet:write"],
            username=f"admin-{org_id}",
            password="admin-secret",
        )
    finally:
        await database.dispose()
    org = Org(
        database_url,
        org_id,
        basic_auth(f"admin-{org_id}", "admin-secret"),
        httpx.AsyncClient(timeout=120),
        base_urls,
    )
    for base_url in base_urls:  # authenticate once per server: races are between mutations
        await org.http.post(f"{base_url}/graphql", json={"query": "{ __typename }"}, headers=org.headers)
    return org


async def entries_of(database_url: str, org_id: int) -> dict[str, dict[str, Any]]:
    e = earned_promotion_table.c
    engine = engine_for(database_url)
    try:
        async with engine.connect() as connection:
            rows = (await connection.execute(select(earned_promotion_table).where(e.org_id == org_id))).all()
    finally:
        await engine.dispose()
    return {row.id: dict(row._mapping) for row in rows}


async def redemptions_of(
    database_url: str, org_id: int
) -> dict[str, tuple[str, int, list[tuple[str, str, int]]]]:
    """transactionIdentifier -> (redemption id, customer, sorted consumptions)."""
    r, c = redemption_table.c, redemption_consumption_table.c
    engine = engine_for(database_url)
    try:
        async with engine.connect() as connection:
            redemptions = (
                await connection.execute(
                    select(r.id, r.transaction_identifier, r.customer_id).where(r.org_id == org_id)
                )
            ).all()
            consumed: dict[str, list[tuple[str, str, int]]] = {}
            for row in await connection.execute(
                select(c.redemption_id, c.earned_promotion_id, c.promotion_id, c.count)
                .join(redemption_table, r.id == c.redemption_id)
                .where(r.org_id == org_id)
            ):
                consumed.setdefault(row.redemption_id, []).append(
                    (row.earned_promotion_id, row.promotion_id, row.count)
                )
    finally:
        await engine.dispose()
    return {
        row.transaction_identifier: (row.id, int(row.customer_id), sorted(consumed.get(row.id, [])))
        for row in redemptions
    }


def told(payload: dict[str, Any]) -> tuple[str, int, list[tuple[str, str, int]]]:
    """What a RedeemPromotionsSuccess told its client, in the shape of `redemptions_of`."""
    redemption = payload["redemption"]
    return (
        redemption["id"],
        int(redemption["customerId"]),
        sorted((x["earnedPromotionId"], x["promotionId"], int(x["count"])) for x in redemption["consumed"]),
    )


async def scalar(database_url: str, sql: str, **params: Any) -> Any:
    engine = engine_for(database_url)
    try:
        async with engine.connect() as connection:
            return (await connection.execute(text(sql), params)).scalar_one()
    finally:
        await engine.dispose()


async def insert_customers(database_url: str, org_id: int, first_id: int, count: int) -> list[int]:
    """Straight into the table: importing them over the API is not what is tested."""
    ids = list(range(first_id, first_id + count))
    engine = engine_for(database_url)
    try:
        async with engine.begin() as connection:
            for start in range(0, count, 10_000):
                await connection.execute(
                    insert(customer_table),
                    [
                        {"org_id": org_id, "id": i, "created_at": now_ms()}
                        for i in ids[start : start + 10_000]
                    ],
                )
    finally:
        await engine.dispose()
    return ids


async def counts(database_url: str, org_id: int) -> tuple[int, int, int]:
    """(entries, distinct customers holding one, ledger rows) of the org."""
    e, led = earned_promotion_table.c, wallet_ledger_table.c
    engine = engine_for(database_url)
    try:
        async with engine.connect() as connection:
            entries, holders = (
                await connection.execute(
                    select(func.count(), func.count(func.distinct(e.customer_id))).where(e.org_id == org_id)
                )
            ).one()
            ledger = (await connection.execute(select(func.count()).where(led.org_id == org_id))).scalar_one()
    finally:
        await engine.dispose()
    return int(entries), int(holders), int(ledger)
