from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy import func, select

from app.domain.clock import DAY_MS, now_ms
from app.domain.earning import new_earned_promotion
from app.domain.models import EarnedFromType, EventDetails
from app.persistence.database import Database
from app.persistence.tables import earned_promotion_table, wallet_ledger_table
from app.persistence.uow import SqlUnitOfWork
from app.settings import Settings
from tests.conftest import ORG_ID
from tests.support import ClientCredentials, GraphQLClient, live_server

ISSUE = """mutation($p: String!, $c: String!, $ids: [Long]!) {
  issuePromotion(promotionId: $p, contextId: $c, customerIds: $ids) {
    __typename
    ... on IssuePromotionSuccess {
      issuedCount alreadyIssuedCount
      earnedPromotions { id customerId promotionId earnedFromType earnedFromId eventTime
        eventDetails { id type } validTill status redemptionsAllowed redemptionsUsed }
    }
    ... on Error { code message retryable }
    ... on CustomerNotFoundError { customerIds }
    ... on InvalidCustomerIdentifierError { indexes }
    ... on InvalidRequestError { field }
    ... on MaxActivePromotionsExceededError { limit }
  } }"""

ISSUE_COUNTS_ONLY = """mutation($p: String!, $c: String!, $ids: [Long]!) {
  issuePromotion(promotionId: $p, contextId: $c, customerIds: $ids) {
    __typename ... on IssuePromotionSuccess { issuedCount alreadyIssuedCount }
    ... on Error { code message } } }"""


async def issue(
    gql: GraphQLClient,
    promotion_id: str,
    context_id: str,
    customer_ids: list[Any],
    *,
    query: str = ISSUE,
    as_: ClientCredentials | None = None,
) -> dict[str, Any]:
    data = await gql.data(query, {"p": promotion_id, "c": context_id, "ids": customer_ids}, as_=as_)
    return data["issuePromotion"]  # type: ignore[no-any-return]


async def count_rows(database: Database) -> tuple[int, int]:
    """(wallet entries, ledger rows) in the whole database."""
    async with database.reader.connect() as connection:
        entries = (
            await connection.execute(select(func.count()).select_from(earned_promotion_table))
        ).scalar_one()
        ledger = (
            await connection.execute(select(func.count()).select_from(wallet_ledger_table))
        ).scalar_one()
    return int(entries), int(ledger)


def end_of_day_in_kolkata(ms: int) -> int:
    """Independent of app.domain.clock on purpose: the test must not share the code it checks."""
    tz = ZoneInfo("Asia/Kolkata")
    local = datetime.fromtimestamp(ms / 1000, tz)
    midnight = datetime(local.year, local.month, local.day, tzinfo=tz) + timedelta(days=1)
    return int(midnight.timestamp() * 1000) - 1


async def assert_refused(
    gql: GraphQLClient,
    database: Database,
    promotion_id: str,
    context_id: str,
    customer_ids: list[Any],
    *,
    typename: str,
    code: int,
) -> dict[str, Any]:
    before = await count_rows(database)
    payload = await issue(gql, promotion_id, context_id, customer_ids)
    assert payload["__typename"] == typename, payload
    assert payload["code"] == code, payload
    assert payload["retryable"] is False
    assert await count_rows(database) == before, "a refused request must write nothing"
    return payload


# --- success ------------------------------------------------------------------------------------


async def test_issue_puts_one_bulk_issue_entry_in_each_customers_wallet(
    gql: GraphQLClient, database: Database, org_clients: dict[str, ClientCredentials]
) -> None:
    # given
    end_date = now_ms() + 10 * DAY_MS
    promotion = await gql.create_promotion(endDate=end_date, maxRedemptionsPerEarn=2)
    await gql.create_customers(11, 12, 5668819330)
    before = now_ms()
    # when
    payload = await issue(gql, promotion["id"], "ctx-1", [11, 5668819330, 12], as_=org_clients["writer"])
    # then
    assert payload["__typename"] == "IssuePromotionSuccess", payload
    assert (payload["issuedCount"], payload["alreadyIssuedCount"]) == (3, 0)
    entries = payload["earnedPromotions"]
    assert [e["customerId"] for e in entries] == [11, 5668819330, 12]
    for entry in entries:
        assert entry["promotionId"] == promotion["id"]
        assert entry["earnedFromType"] == "BULK_ISSUE"
        assert entry["earnedFromId"] == "ctx-1"
        assert entry["eventDetails"] == {"id": "ctx-1", "type": "BULK_ISSUE"}
        assert before <= entry["eventTime"] <= now_ms()
        assert entry["validTill"] == end_of_day_in_kolkata(end_date)
        assert entry["status"] == "UNLOCKED"
        assert (entry["redemptionsAllowed"], entry["redemptionsUsed"]) == (2, 0)
    assert len({e["id"] for e in entries}) == 3


async def test_issue_writes_a_ledger_row_per_new_entry(
    gql: GraphQLClient, database: Database, org_clients: dict[str, ClientCredentials]
) -> None:
    # given
    promotion = await gql.create_promotion(maxRedemptionsPerEarn=3)
    await gql.create_customers(21, 22)
    # when
    payload = await issue(gql, promotion["id"], "ctx-ledger", [21, 22], as_=org_clients["writer"])
    await issue(gql, promotion["id"], "ctx-ledger", [21, 22], as_=org_clients["writer"])
    # then
    async with database.reader.connect() as connection:
        rows = (await connection.execute(select(wallet_ledger_table))).all()
    by_entry = {row.earned_promotion_id: row for row in rows}
    assert len(rows) == 2, "a repeat must not add ledger rows"
    for entry in payload["earnedPromotions"]:
        row = by_entry[entry["id"]]
        assert (row.org_id, row.customer_id, row.promotion_id) == (
            ORG_ID,
            entry["customerId"],
            promotion["id"],
        )
        assert (row.kind, row.quantity) == ("ISSUED", 3)
        assert (row.actor, row.source) == (org_clients["writer"].username, "ctx-ledger")


async def test_valid_till_is_cut_by_the_redemption_window_at_the_end_of_the_local_day(
    gql: GraphQLClient,
) -> None:
    # given
    promotion = await gql.create_promotion(endDate=now_ms() + 30 * DAY_MS, redemptionWindowDays=2)
    await gql.create_customers(31)
    # when
    payload = await issue(gql, promotion["id"], "ctx-window", [31])
    # then
    entry = payload["earnedPromotions"][0]
    assert entry["validTill"] == end_of_day_in_kolkata(entry["eventTime"] + 2 * DAY_MS)


async def test_a_repeat_returns_the_same_entries_and_counts_them_as_already_issued(
    gql: GraphQLClient, database: Database
) -> None:
    # given
    promotion = await gql.create_promotion()
    await gql.create_customers(41, 42, 43)
    first = await issue(gql, promotion["id"], "ctx-repeat", [41, 42])
    # when
    second = await issue(gql, promotion["id"], "ctx-repeat", [42, 43, 41])
    # then
    assert (second["issuedCount"], second["alreadyIssuedCount"]) == (1, 2)
    ids_first = {e["customerId"]: e["id"] for e in first["earnedPromotions"]}
    ids_second = {e["customerId"]: e["id"] for e in second["earnedPromotions"]}
    assert [e["customerId"] for e in second["earnedPromotions"]] == [42, 43, 41]
    assert ids_second[41] == ids_first[41] and ids_second[42] == ids_first[42]
    assert second["earnedPromotions"][0]["eventTime"] == first["earnedPromotions"][1]["eventTime"]
    assert await count_rows(database) == (3, 3)


async def test_another_context_id_issues_a_second_entry(gql: GraphQLClient, database: Database) -> None:
    # given
    promotion = await gql.create_promotion()
    await gql.create_customers(51)
    await issue(gql, promotion["id"], "ctx-a", [51])
    # when
    payload = await issue(gql, promotion["id"], "ctx-b", [51])
    # then
    assert (payload["issuedCount"], payload["alreadyIssuedCount"]) == (1, 0)
    assert await count_rows(database) == (2, 2)


async def test_duplicate_ids_in_one_list_count_once(gql: GraphQLClient, database: Database) -> None:
    # given
    promotion = await gql.create_promotion()
    await gql.create_customers(61, 62)
    # when
    payload = await issue(gql, promotion["id"], "ctx-dup", [61, 62, 61, 61, "62"])
    # then
    assert (payload["issuedCount"], payload["alreadyIssuedCount"]) == (2, 0)
    assert [e["customerId"] for e in payload["earnedPromotions"]] == [61, 62]
    assert await count_rows(database) == (2, 2)


async def test_counts_come_back_without_selecting_the_entries(gql: GraphQLClient, database: Database) -> None:
    # given
    promotion = await gql.create_promotion()
    await gql.create_customers(71, 72)
    # when
    first = await issue(gql, promotion["id"], "ctx-counts", [71, 72], query=ISSUE_COUNTS_ONLY)
    second = await issue(gql, promotion["id"], "ctx-counts", [71, 72], query=ISSUE_COUNTS_ONLY)
    # then
    assert first == {"__typename": "IssuePromotionSuccess", "issuedCount": 2, "alreadyIssuedCount": 0}
    assert second == {"__typename": "IssuePromotionSuccess", "issuedCount": 0, "alreadyIssuedCount": 2}
    assert await count_rows(database) == (2, 2)


async def test_entries_selected_through_a_named_fragment_are_returned(gql: GraphQLClient) -> None:
    # given
    promotion = await gql.create_promotion()
    await gql.create_customers(81)
    query = """mutation($p: String!, $c: String!, $ids: [Long]!) {
      issuePromotion(promotionId: $p, contextId: $c, customerIds: $ids) { __typename ...Issued } }
      fragment Issued on IssuePromotionSuccess { issuedCount earnedPromotions { customerId } }"""
    # when
    payload = await issue(gql, promotion["id"], "ctx-fragment", [81], query=query)
    # then
    assert payload == {
        "__typename": "IssuePromotionSuccess",
        "issuedCount": 1,
        "earnedPromotions": [{"customerId": 81}],
    }


async def test_a_large_list_is_issued_in_one_call_and_repeats_idempotently(
    gql: GraphQLClient, database: Database
) -> None:
    # given: more customers than one write chunk, so several transactions are involved
    customer_ids = list(range(1_000_001, 1_020_001))
    await gql.create_customers(*customer_ids)
    promotion = await gql.create_promotion()
    # when
    first = await issue(gql, promotion["id"], "ctx-large", customer_ids, query=ISSUE_COUNTS_ONLY)
    second = await issue(gql, promotion["id"], "ctx-large", customer_ids[::-1])
    # then
    assert (first["issuedCount"], first["alreadyIssuedCount"]) == (20_000, 0)
    assert (second["issuedCount"], second["alreadyIssuedCount"]) == (0, 20_000)
    assert [e["customerId"] for e in second["earnedPromotions"]] == customer_ids[::-1]
    assert await count_rows(database) == (20_000, 20_000)


async def test_a_large_list_with_one_unknown_customer_writes_nothing(
    gql: GraphQLClient, database: Database
) -> None:
    # given
    customer_ids = list(range(2_000_001, 2_012_001))
    await gql.create_customers(*customer_ids)
    promotion = await gql.create_promotion()
    # when
    payload = await assert_refused(
        gql,
        database,
        promotion["id"],
        "ctx-large-missing",
        [*customer_ids, 9_999_999],
        typename="CustomerNotFoundError",
        code=404,
    )
    # then
    assert payload["customerIds"] == [9_999_999]


# --- concurrency --------------------------------------------------------------------------------


async def post_until_not_locked(post: Callable[[], Awaitable[dict[str, Any]]]) -> dict[str, Any]:
    """What a client does with a retryable 521: try again. On SQLite concurrent writers queue for
    one database lock, so under load some of them can time out; the outcome must not change."""
    for _ in range(20):
        payload = await post()
        if payload["__typename"] != "ResourceLockedError":
            return payload
        await asyncio.sleep(0.05)
    raise AssertionError("still locked after 20 attempts")


async def test_concurrent_identical_requests_make_one_entry_per_customer(
    gql: GraphQLClient, database: Database
) -> None:
    # given
    customer_ids = list(range(3_000_001, 3_000_301))
    await gql.create_customers(*customer_ids)
    promotion = await gql.create_promotion()
    variables = {"p": promotion["id"], "c": "ctx-race", "ids": customer_ids}

    async def post() -> dict[str, Any]:
        return (await gql.data(ISSUE_COUNTS_ONLY, variables))["issuePromotion"]  # type: ignore[no-any-return]

    # when
    payloads = await asyncio.gather(*(post_until_not_locked(post) for _ in range(6)))
    # then
    assert all(p["__typename"] == "IssuePromotionSuccess" for p in payloads), payloads
    assert all(p["issuedCount"] + p["alreadyIssuedCount"] == 300 for p in payloads)
    assert sum(p["issuedCount"] for p in payloads) == 300
    assert await count_rows(database) == (300, 300)


async def test_concurrent_identical_requests_to_a_real_server_make_one_entry_per_customer(
    gql: GraphQLClient, database: Database, database_url: str, org_clients: dict[str, ClientCredentials]
) -> None:
    # given: a separate server process and more customers than one write chunk
    customer_ids = list(range(4_000_001, 4_006_001))
    await gql.create_customers(*customer_ids)
    promotion = await gql.create_promotion()
    body = {
        "query": ISSUE_COUNTS_ONLY,
        "variables": {"p": promotion["id"], "c": "ctx-live", "ids": customer_ids},
    }
    headers = org_clients["writer"].headers
    # when
    with live_server(database_url) as base_url:
        async with httpx.AsyncClient(base_url=base_url, timeout=120) as client:

            async def post() -> dict[str, Any]:
                response = await client.post("/graphql", json=body, headers=headers)
                return response.json()["data"]["issuePromotion"]  # type: ignore[no-any-return]

            payloads = await asyncio.gather(*(post_until_not_locked(post) for _ in range(4)))
    # then: whatever interleaving and retries happened, one entry per customer
    assert all(p["__typename"] == "IssuePromotionSuccess" for p in payloads), payloads
    assert all(p["issuedCount"] + p["alreadyIssuedCount"] == 6000 for p in payloads)
    assert await count_rows(database) == (6000, 6000)


# --- refusals, in the order of DESIGN §6 ----------------------------------------------------------


@pytest.mark.parametrize("context_id", ["", "x" * 251])
async def test_a_context_id_outside_1_to_250_characters_is_400(
    gql: GraphQLClient, database: Database, context_id: str
) -> None:
    promotion = await gql.create_promotion()
    await gql.create_customers(101)
    payload = await assert_refused(
        gql, database, promotion["id"], context_id, [101], typename="InvalidRequestError", code=400
    )
    assert payload["field"] == "contextId"


async def test_a_context_id_of_250_characters_is_accepted(gql: GraphQLClient) -> None:
    promotion = await gql.create_promotion()
    await gql.create_customers(102)
    payload = await issue(gql, promotion["id"], "x" * 250, [102])
    assert payload["__typename"] == "IssuePromotionSuccess", payload


@pytest.mark.parametrize(
    ("customer_ids", "indexes"),
    [([], []), ([101, None], [1]), ([0, 101, -5], [0, 2]), ([None], [0])],
)
async def test_an_empty_list_null_or_non_positive_ids_are_1006(
    gql: GraphQLClient, database: Database, customer_ids: list[Any], indexes: list[int]
) -> None:
    promotion = await gql.create_promotion()
    await gql.create_customers(101)
    payload = await assert_refused(
        gql,
        database,
        promotion["id"],
        "ctx",
        customer_ids,
        typename="InvalidCustomerIdentifierError",
        code=1006,
    )
    assert payload["indexes"] == indexes


async def test_more_ids_than_the_batch_limit_is_400(
    gql: GraphQLClient, database: Database, settings: Settings
) -> None:
    # given
    promotion = await gql.create_promotion()
    await gql.create_customers(111, 112, 113)
    settings.max_batch = 2
    # when / then
    payload = await assert_refused(
        gql, database, promotion["id"], "ctx", [111, 112, 113], typename="InvalidRequestError", code=400
    )
    assert payload["field"] == "customerIds"


async def test_an_unknown_promotion_is_404(gql: GraphQLClient, database: Database) -> None:
    await gql.create_customers(121)
    await assert_refused(
        gql, database, "0123456789abcdef01234567", "ctx", [121], typename="PromotionNotFoundError", code=404
    )


async def test_another_orgs_promotion_is_404(
    gql: GraphQLClient, database: Database, other_org_clients: dict[str, ClientCredentials]
) -> None:
    # given
    theirs = GraphQLClient(http=gql.http, default=other_org_clients["admin"])
    promotion = await theirs.create_promotion()
    await gql.create_customers(122)
    # when / then
    await assert_refused(
        gql, database, promotion["id"], "ctx", [122], typename="PromotionNotFoundError", code=404
    )


async def test_a_pos_promotion_is_707(gql: GraphQLClient, database: Database) -> None:
    promotion = await gql.create_promotion(type="POS")
    await gql.create_customers(131)
    await assert_refused(
        gql, database, promotion["id"], "ctx", [131], typename="PromotionTypeNotSupportedError", code=707
    )


async def test_a_code_promotion_is_714(gql: GraphQLClient, database: Database) -> None:
    promotion = await gql.create_promotion(type="CODE")
    await gql.create_customers(141)
    await assert_refused(
        gql, database, promotion["id"], "ctx", [141], typename="EarnNotSupportedError", code=714
    )


@pytest.mark.parametrize(
    "overrides",
    [{"startDate": 1_000_000, "endDate": 2_000_000}, {"active": False}],
    ids=["expired", "inactive"],
)
async def test_an_expired_or_inactive_promotion_is_706(
    gql: GraphQLClient, database: Database, overrides: dict[str, Any]
) -> None:
    promotion = await gql.create_promotion(**overrides)
    await gql.create_customers(151)
    await assert_refused(
        gql, database, promotion["id"], "ctx", [151], typename="PromotionExpiredError", code=706
    )


async def test_an_org_over_its_active_promotion_cap_is_705(gql: GraphQLClient, database: Database) -> None:
    # given: two active promotions, then the cap is lowered to one
    promotion = await gql.create_promotion()
    await gql.create_promotion()
    await gql.create_customers(161)
    data = await gql.data(
        """mutation { updateOrgSettings(input: {maxActivePromotions: 1}) { __typename } }"""
    )
    assert data["updateOrgSettings"]["__typename"] == "UpdateOrgSettingsSuccess"
    # when / then
    payload = await assert_refused(
        gql, database, promotion["id"], "ctx", [161], typename="MaxActivePromotionsExceededError", code=705
    )
    assert payload["limit"] == 1


async def test_an_org_exactly_at_its_cap_may_issue(gql: GraphQLClient) -> None:
    promotion = await gql.create_promotion()
    await gql.create_customers(162)
    await gql.data("""mutation { updateOrgSettings(input: {maxActivePromotions: 1}) { __typename } }""")
    payload = await issue(gql, promotion["id"], "ctx", [162])
    assert payload["__typename"] == "IssuePromotionSuccess", payload


async def test_unknown_customers_are_404_listing_every_missing_id(
    gql: GraphQLClient, database: Database
) -> None:
    # given
    promotion = await gql.create_promotion()
    await gql.create_customers(171)
    # when
    payload = await assert_refused(
        gql,
        database,
        promotion["id"],
        "ctx",
        [172, 171, 5668819330, 172],
        typename="CustomerNotFoundError",
        code=404,
    )
    # then
    assert payload["customerIds"] == [172, 5668819330]


async def test_another_orgs_customers_are_not_found(
    gql: GraphQLClient, database: Database, other_org_clients: dict[str, ClientCredentials]
) -> None:
    # given
    theirs = GraphQLClient(http=gql.http, default=other_org_clients["admin"])
    await theirs.create_customers(181)
    await gql.create_customers(182)
    promotion = await gql.create_promotion()
    # when
    payload = await assert_refused(
        gql, database, promotion["id"], "ctx", [182, 181], typename="CustomerNotFoundError", code=404
    )
    # then
    assert payload["customerIds"] == [181]


async def test_a_context_id_already_used_with_another_earned_from_type_is_713(
    gql: GraphQLClient, database: Database
) -> None:
    # given: customer 191 earned this promotion from an ACTIVITY with id "ctx-shared"
    promotion = await gql.create_promotion()
    await gql.create_customers(191, 192)
    async with SqlUnitOfWork(database, write=True) as uow:
        domain_promotion = await uow.promotions.get(ORG_ID, promotion["id"])
        assert domain_promotion is not None
        now = now_ms()
        await uow.earnings.insert_new(
            [
                new_earned_promotion(
                    entry_id="aaaaaaaaaaaaaaaaaaaaaaaa",
                    promotion=domain_promotion,
                    customer_id=191,
                    earned_from_type=EarnedFromType.ACTIVITY,
                    earned_from_id="ctx-shared",
                    instance=1,
                    event_time=now,
                    event_details=EventDetails(id="ctx-shared", type="ACTIVITY"),
                    timezone="Asia/Kolkata",
                    now=now,
                )
            ]
        )
        await uow.commit()
    # when / then: even for a customer who has no such earning
    await assert_refused(
        gql, database, promotion["id"], "ctx-shared", [192], typename="EarnedFromTypeChangedError", code=713
    )


async def test_passing_max_earns_per_customer_is_an_earn_limit_error(
    gql: GraphQLClient, database: Database
) -> None:
    # given: 201 already earned the promotion once, under another contextId
    promotion = await gql.create_promotion(maxEarnsPerCustomer=1)
    await gql.create_customers(201, 202)
    await issue(gql, promotion["id"], "ctx-first", [201])
    # when
    payload = await assert_refused(
        gql, database, promotion["id"], "ctx-second", [202, 201], typename="EarnLimitExceededError", code=400
    )
    # then
    assert "201" in payload["message"]


async def test_a_repeat_does_not_count_against_the_earn_limit(gql: GraphQLClient, database: Database) -> None:
    # given
    promotion = await gql.create_promotion(maxEarnsPerCustomer=1)
    await gql.create_customers(211, 212)
    await issue(gql, promotion["id"], "ctx-once", [211])
    # when
    payload = await issue(gql, promotion["id"], "ctx-once", [211, 212])
    # then
    assert (payload["issuedCount"], payload["alreadyIssuedCount"]) == (1, 1)
    assert await count_rows(database) == (2, 2)


# --- access ------------------------------------------------------------------------------------


async def test_a_client_without_the_write_scope_is_forbidden_and_nothing_is_written(
    gql: GraphQLClient, database: Database, org_clients: dict[str, ClientCredentials]
) -> None:
    # given
    promotion = await gql.create_promotion()
    await gql.create_customers(221)
    # when
    body = await gql(ISSUE, {"p": promotion["id"], "c": "ctx", "ids": [221]}, as_=org_clients["reader"])
    # then
    assert body["data"] is None
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert await count_rows(database) == (0, 0)


async def test_a_request_without_credentials_is_401(gql: GraphQLClient) -> None:
    response = await gql.http.post(
        "/graphql", json={"query": ISSUE, "variables": {"p": "x", "c": "ctx", "ids": [1]}}
    )
    assert response.status_code == 401
