"""earnPromotions over GraphQL: request-level refusals, per-entry outcomes, replays, limits."""

from __future__ import annotations

import asyncio
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from app.domain.clock import DAY_MS, now_ms
from app.persistence.database import Database
from app.persistence.tables import earned_promotion_table, wallet_ledger_table
from tests.support import ClientCredentials, GraphQLClient

CUSTOMER = 566881933
EVENT_TIME = 1761750000000  # the spec's example: 2025-10-29T15:00:00Z
IST = ZoneInfo("Asia/Kolkata")

EARN = """mutation($input: EarnPromotionsInput!) { earnPromotions(input: $input) {
  __typename
  ... on EarnPromotionsSuccess { results {
      promotionId earnedFromId successfulEarnCount failedEarnCount
      error { __typename code message retryable ... on MaxActivePromotionsExceededError { limit } }
      customerEarnedPromotions { id customerId promotionId earnedFromType earnedFromId eventTime eventTimeISO
        eventDetails { id type } validTill validTillISO status redemptionsAllowed redemptionsUsed } } }
  ... on Error { code message retryable }
  ... on InvalidRequestError { field }
  ... on InvalidCustomerIdentifierError { indexes }
  ... on CustomerNotFoundError { customerIds } } }"""


def entry(
    promotion_id: str, earned_from_id: str = "68fb1c9731d91c625a8d9e80", count: int = 1
) -> dict[str, Any]:
    return {"promotionId": promotion_id, "earnCount": count, "earnedFromId": earned_from_id}


def earn_input(*entries: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    return {
        "customerId": CUSTOMER,
        "eventTime": EVENT_TIME,
        "earnedFromType": "BULK_ISSUE",
        "eventDetails": {"id": "6911e951f57b486147effa6c", "type": "BULK_ISSUE"},
        "earnedPromotions": list(entries),
    } | overrides


async def earn(
    gql: GraphQLClient, input_: dict[str, Any], *, as_: ClientCredentials | None = None
) -> dict[str, Any]:
    data = await gql.data(EARN, {"input": input_}, as_=as_)
    return data["earnPromotions"]  # type: ignore[no-any-return]


async def earn_ok(gql: GraphQLClient, input_: dict[str, Any]) -> list[dict[str, Any]]:
    payload = await earn(gql, input_)
    assert payload["__typename"] == "EarnPromotionsSuccess", payload
    return payload["results"]  # type: ignore[no-any-return]


async def row_counts(database: Database) -> tuple[int, int]:
    """(wallet entries, ledger rows) in the whole database."""
    async with database.reader.connect() as connection:
        entries = (
            await connection.execute(select(func.count()).select_from(earned_promotion_table))
        ).scalar_one()
        ledger = (
            await connection.execute(select(func.count()).select_from(wallet_ledger_table))
        ).scalar_one()
    return int(entries), int(ledger)


def end_of_ist_day(ms: int) -> int:
    local = datetime.fromtimestamp(ms / 1000, IST)
    next_midnight = datetime.combine(local.date() + timedelta(days=1), time.min, tzinfo=IST)
    return int(next_midnight.timestamp() * 1000) - 1


@pytest.fixture
async def promotion(gql: GraphQLClient) -> dict[str, Any]:
    await gql.create_customers(CUSTOMER)
    return await gql.create_promotion(name="Earnable")


# --- success ---------------------------------------------------------------------------------


async def test_earns_the_spec_example_with_one_result_per_entry_in_request_order(
    gql: GraphQLClient, database: Database
) -> None:
    # given two promotions ending on a future date, in an org in Asia/Kolkata
    await gql.create_customers(CUSTOMER)
    end_date = now_ms() + 60 * DAY_MS
    first = await gql.create_promotion(name="First", endDate=end_date)
    second = await gql.create_promotion(name="Second", endDate=end_date, maxRedemptionsPerEarn=3)
    # when
    results = await earn_ok(gql, earn_input(entry(second["id"]), entry(first["id"])))
    # then
    assert [r["promotionId"] for r in results] == [second["id"], first["id"]]
    valid_till = end_of_ist_day(end_date)
    for result, allowed in zip(results, (3, 1), strict=True):
        assert (result["successfulEarnCount"], result["failedEarnCount"], result["error"]) == (1, 0, None)
        (earned,) = result["customerEarnedPromotions"]
        assert earned | {"id": "x"} == {
            "id": "x",
            "customerId": CUSTOMER,
            "promotionId": result["promotionId"],
            "earnedFromType": "BULK_ISSUE",
            "earnedFromId": "68fb1c9731d91c625a8d9e80",
            "eventTime": EVENT_TIME,
            "eventTimeISO": "2025-10-29T15:00:00Z",
            "eventDetails": {"id": "6911e951f57b486147effa6c", "type": "BULK_ISSUE"},
            "validTill": valid_till,
            "validTillISO": datetime.fromtimestamp(valid_till // 1000, ZoneInfo("UTC")).strftime(
                "%Y-%m-%dT%H:%M:%S.999Z"
            ),
            "status": "UNLOCKED",
            "redemptionsAllowed": allowed,
            "redemptionsUsed": 0,
        }
        assert len(earned["id"]) == 24
    # the last millisecond of the end date's day in India is 18:29:59.999 UTC
    assert results[0]["customerEarnedPromotions"][0]["validTillISO"].endswith("T18:29:59.999Z")
    assert await row_counts(database) == (2, 2)


async def test_a_redemption_window_ends_validity_at_the_end_of_that_local_day(gql: GraphQLClient) -> None:
    await gql.create_customers(CUSTOMER)
    windowed = await gql.create_promotion(redemptionWindowDays=10)
    results = await earn_ok(gql, earn_input(entry(windowed["id"])))
    (earned,) = results[0]["customerEarnedPromotions"]
    # 2025-10-29T15:00Z + 10 days = 2025-11-08 20:30 in India → the end of 2025-11-08 there
    assert (earned["validTill"], earned["validTillISO"]) == (1762626599999, "2025-11-08T18:29:59.999Z")
    assert earned["status"] == "EXPIRED"


async def test_earn_count_creates_that_many_instances(gql: GraphQLClient, promotion: dict[str, Any]) -> None:
    results = await earn_ok(gql, earn_input(entry(promotion["id"], count=3)))
    assert (results[0]["successfulEarnCount"], results[0]["failedEarnCount"]) == (3, 0)
    assert len({e["id"] for e in results[0]["customerEarnedPromotions"]}) == 3


async def test_the_writer_scope_is_enough_and_org_id_may_name_the_callers_org(
    gql: GraphQLClient, promotion: dict[str, Any]
) -> None:
    payload = await earn(gql, earn_input(entry(promotion["id"]), orgId=100737), as_=gql.clients["writer"])
    assert payload["__typename"] == "EarnPromotionsSuccess"


# --- the whole request refused ---------------------------------------------------------------

LONG = "x" * 251


SECOND = "earnedPromotions[1]"  # the entry a case appends after one valid entry


def invalid(change: dict[str, Any], field: str, case: str) -> Any:
    return pytest.param(change, "InvalidRequestError", 400, field, id=case)


@pytest.mark.parametrize(
    ("change", "typename", "code", "field"),
    [
        invalid({"orgId": 200001}, "orgId", "other-org"),
        invalid({"eventTime": 2**62}, "eventTime", "event-time-past-year-9999"),
        invalid({"eventDetails": {"id": LONG, "type": "BULK_ISSUE"}}, "eventDetails.id", "long-event-id"),
        invalid({"eventDetails": {"id": "e", "type": "ACTIVITY"}}, "eventDetails.type", "event-type-differs"),
        invalid({"earnedPromotions": [entry("p", count=-2)]}, f"{SECOND}.earnCount", "negative-earn-count"),
        invalid({"earnedPromotions": [entry("p", "")]}, f"{SECOND}.earnedFromId", "empty-earned-from-id"),
        invalid({"earnedPromotions": [entry("p", count=1000)]}, "earnedPromotions", "too-many-instances"),
        invalid({"earnedPromotions": [entry("p", count=2**31 - 1)]}, "earnedPromotions", "huge-earn-count"),
        invalid(
            {"earnedPromotions": [entry(f"p{i}") for i in range(1000)]},
            "earnedPromotions",
            "too-many-entries",
        ),
        pytest.param({"customerId": 0}, "InvalidCustomerIdentifierError", 1006, None, id="zero-customer-id"),
        pytest.param({"customerId": 999}, "CustomerNotFoundError", 404, None, id="unknown-customer"),
    ],
)
async def test_an_invalid_request_is_refused_whole_and_writes_nothing(
    gql: GraphQLClient,
    promotion: dict[str, Any],
    database: Database,
    change: dict[str, Any],
    typename: str,
    code: int,
    field: str | None,
) -> None:
    # given a request whose first entry is fine, changed in one way
    request = earn_input(entry(promotion["id"]))
    if change.get("earnedPromotions"):
        change = {"earnedPromotions": request["earnedPromotions"] + change["earnedPromotions"]}
    # when
    payload = await earn(gql, request | change)
    # then
    assert (payload["__typename"], payload["code"], payload.get("field")) == (typename, code, field), payload
    assert await row_counts(database) == (0, 0)


async def test_a_customer_of_another_org_is_not_found(
    gql: GraphQLClient,
    promotion: dict[str, Any],
    other_org_clients: dict[str, ClientCredentials],
    database: Database,
) -> None:
    # given the customer exists only in org 100737; the other org has a promotion of its own
    other = GraphQLClient(http=gql.http, default=other_org_clients["admin"])
    theirs = await other.create_promotion()
    # when the other org earns for that customer id
    payload = await earn(other, earn_input(entry(theirs["id"])))
    # then
    assert (payload["__typename"], payload["customerIds"]) == ("CustomerNotFoundError", [CUSTOMER])
    assert await row_counts(database) == (0, 0)


async def test_a_client_without_wallet_write_is_forbidden(
    gql: GraphQLClient, promotion: dict[str, Any], database: Database
) -> None:
    body = await gql(EARN, {"input": earn_input(entry(promotion["id"]))}, as_=gql.clients["reader"])
    assert body["data"] is None
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert await row_counts(database) == (0, 0)


# --- per-entry outcomes ----------------------------------------------------------------------


async def test_each_entry_fails_on_its_own_and_the_good_ones_still_commit(
    gql: GraphQLClient, promotion: dict[str, Any], database: Database
) -> None:
    # given one promotion of each failing kind, and one that was earned before as ACTIVITY
    now = now_ms()
    pos = await gql.create_promotion(type="POS")
    code = await gql.create_promotion(type="CODE")
    ended = await gql.create_promotion(startDate=now - 10 * DAY_MS, endDate=now - DAY_MS)
    inactive = await gql.create_promotion(active=False)
    typed = await gql.create_promotion()
    activity = earn_input(
        entry(typed["id"], "shared-source"),
        earnedFromType="ACTIVITY",
        eventDetails={"id": "a", "type": "ACTIVITY"},
    )
    await earn_ok(gql, activity)
    # when
    results = await earn_ok(
        gql,
        earn_input(
            entry("000000000000000000000000"),
            entry(pos["id"]),
            entry(code["id"]),
            entry(promotion["id"], count=2),
            entry(ended["id"]),
            entry(inactive["id"]),
            entry(typed["id"], "shared-source", count=2),
        ),
    )
    # then
    outcomes = [
        (
            r["successfulEarnCount"],
            r["failedEarnCount"],
            r["error"] and (r["error"]["__typename"], r["error"]["code"]),
        )
        for r in results
    ]
    assert outcomes == [
        (0, 1, ("PromotionNotFoundError", 404)),
        (0, 1, ("PromotionTypeNotSupportedError", 707)),
        (0, 1, ("EarnNotSupportedError", 714)),
        (2, 0, None),
        (0, 1, ("PromotionExpiredError", 706)),
        (0, 1, ("PromotionExpiredError", 706)),
        (0, 2, ("EarnedFromTypeChangedError", 713)),
    ]
    assert all(r["customerEarnedPromotions"] == [] for i, r in enumerate(results) if i != 3)
    assert results[0]["error"]["retryable"] is False
    assert await row_counts(database) == (3, 3)  # the ACTIVITY one and the two of this request


async def test_an_org_over_its_active_cap_fails_every_earnable_entry_with_705(
    gql: GraphQLClient, promotion: dict[str, Any], database: Database
) -> None:
    # given two active promotions and a cap lowered to one
    await gql.create_promotion()
    await gql.data(
        "mutation { updateOrgSettings(input: {maxActivePromotions: 1}) { __typename } }",
    )
    # when
    results = await earn_ok(gql, earn_input(entry(promotion["id"]), entry("000000000000000000000000")))
    # then
    assert results[0]["error"] == {
        "__typename": "MaxActivePromotionsExceededError",
        "code": 705,
        "message": results[0]["error"]["message"],
        "retryable": False,
        "limit": 1,
    }
    assert results[1]["error"]["code"] == 404
    assert await row_counts(database) == (0, 0)


async def test_an_entry_over_the_earn_limit_earns_what_fits_and_fails_the_rest(
    gql: GraphQLClient, database: Database
) -> None:
    # given a promotion a customer may earn at most 4 times, already earned once
    await gql.create_customers(CUSTOMER)
    limited = await gql.create_promotion(maxEarnsPerCustomer=4)
    await earn_ok(gql, earn_input(entry(limited["id"], "first")))
    # when 2 + 2 more are asked for, from two sources in one request
    results = await earn_ok(
        gql, earn_input(entry(limited["id"], "second", 2), entry(limited["id"], "third", 2))
    )
    # then the first entry fits, the second gets one of its two
    assert [(r["successfulEarnCount"], r["failedEarnCount"]) for r in results] == [(2, 0), (1, 1)]
    assert results[0]["error"] is None
    assert (results[1]["error"]["__typename"], results[1]["error"]["code"]) == ("EarnLimitExceededError", 400)
    assert len(results[1]["customerEarnedPromotions"]) == 1
    assert await row_counts(database) == (4, 4)
    # and a later request gets nothing more
    again = await earn_ok(gql, earn_input(entry(limited["id"], "fourth", 5)))
    assert (again[0]["successfulEarnCount"], again[0]["failedEarnCount"]) == (0, 5)
    assert await row_counts(database) == (4, 4)


# --- idempotency -----------------------------------------------------------------------------


async def test_a_replay_returns_the_same_entries_and_writes_nothing(
    gql: GraphQLClient, promotion: dict[str, Any], database: Database
) -> None:
    request = earn_input(entry(promotion["id"], count=2), entry("000000000000000000000000"))
    first = await earn_ok(gql, request)
    second = await earn_ok(gql, request)
    assert second == first
    assert await row_counts(database) == (2, 2)


async def test_a_repeat_with_a_larger_earn_count_creates_only_the_missing_instances(
    gql: GraphQLClient, promotion: dict[str, Any], database: Database
) -> None:
    first = await earn_ok(gql, earn_input(entry(promotion["id"], count=2)))
    more = await earn_ok(gql, earn_input(entry(promotion["id"], count=5)))
    fewer = await earn_ok(gql, earn_input(entry(promotion["id"], count=1)))
    assert (more[0]["successfulEarnCount"], more[0]["failedEarnCount"]) == (5, 0)
    ids = [e["id"] for e in more[0]["customerEarnedPromotions"]]
    assert ids[:2] == [e["id"] for e in first[0]["customerEarnedPromotions"]]
    assert [e["id"] for e in fewer[0]["customerEarnedPromotions"]] == ids[:1]
    assert await row_counts(database) == (5, 5)


async def test_a_replay_under_another_earned_from_type_is_713_not_a_replay(
    gql: GraphQLClient, promotion: dict[str, Any], database: Database
) -> None:
    await earn_ok(gql, earn_input(entry(promotion["id"])))
    results = await earn_ok(
        gql,
        earn_input(
            entry(promotion["id"]), earnedFromType="REWARD", eventDetails={"id": "r", "type": "REWARD"}
        ),
    )
    assert (results[0]["successfulEarnCount"], results[0]["error"]["code"]) == (0, 713)
    assert await row_counts(database) == (1, 1)


async def test_concurrent_repeats_never_exceed_the_earn_count(
    gql: GraphQLClient, promotion: dict[str, Any], database: Database
) -> None:
    request = earn_input(entry(promotion["id"], count=3), entry(promotion["id"], "other", 2))
    payloads = await asyncio.gather(*(earn(gql, request) for _ in range(8)))
    # a request that could not get the write lock in time may be told to retry; none may overshoot
    done = [p for p in payloads if p["__typename"] == "EarnPromotionsSuccess"]
    assert done and all(p["__typename"] in ("EarnPromotionsSuccess", "ResourceLockedError") for p in payloads)
    for payload in done:
        assert [r["successfulEarnCount"] for r in payload["results"]] == [3, 2]
        assert payload["results"] == done[0]["results"]
    assert await row_counts(database) == (5, 5)


async def test_a_request_may_earn_up_to_1000_instances(
    gql: GraphQLClient, promotion: dict[str, Any], database: Database
) -> None:
    payload = await gql.data(
        """mutation($input: EarnPromotionsInput!) { earnPromotions(input: $input) {
             ... on EarnPromotionsSuccess { results { successfulEarnCount failedEarnCount } } } }""",
        {"input": earn_input(entry(promotion["id"], count=600), entry(promotion["id"], "b", count=400))},
    )
    assert payload["earnPromotions"]["results"] == [
        {"successfulEarnCount": 600, "failedEarnCount": 0},
        {"successfulEarnCount": 400, "failedEarnCount": 0},
    ]
    assert await row_counts(database) == (1000, 1000)
