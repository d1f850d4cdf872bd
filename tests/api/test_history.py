"""walletHistory, walletAsOf and explainRedemption over HTTP on the database (SQLite and
PostgreSQL), and their REST twins: the SQL grouping, counts and joins of the history, one statement
per history page, the rebuilt wallet against the live one, explain's error against the one
redeemPromotions returns, and that an explanation neither writes nor waits for the wallet lock.
The rules themselves are proven on fakes (tests/services/test_history*.py, test_explain.py)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from sqlalchemy import func, select

from app.domain.clock import now_ms
from app.persistence.database import Database
from app.persistence.tables import wallet_ledger_table
from app.persistence.uow import SqlUnitOfWork
from tests.api.test_earn_promotions import EARN
from tests.api.test_issue_promotion import ISSUE
from tests.api.test_query_counts import sql_statements
from tests.api.test_revoke_earned_promotions import REVOKE
from tests.conftest import ORG_ID
from tests.lifecycle_documents import COMMIT_HOLD, HOLD, RELEASE_HOLD, REVERSE
from tests.support import ClientCredentials, GraphQLClient
from tests.wallet_world import REDEEM, line, purchase

CUSTOMER = 566881933
REST = "/api_gateway/v1/promotions"
EVENT_FIELDS = "id kind at atISO customerId promotionId earnedPromotionId redemptionId count actor source"
HISTORY = f"""query($id: Long!, $kinds: [LedgerEventKind!], $since: Long, $until: Long, $first: Int,
  $after: String) {{ walletHistory(customerId: $id, kinds: $kinds, since: $since, until: $until,
  first: $first, after: $after) {{ totalCount pageInfo {{ hasNextPage endCursor }}
  edges {{ cursor node {{ {EVENT_FIELDS} }} }} }} }}"""
ENTRY_FIELDS = "id promotionId status redemptionsAllowed redemptionsUsed redemptionsHeld validTill eventTime"
WALLET = f"""query($id: Long!) {{ wallet(customerId: $id, first: 100) {{ totalCount
  edges {{ cursor node {{ {ENTRY_FIELDS} promotion {{ id status }} }} }} }} }}"""
AS_OF = f"""query($id: Long!, $asOf: Long!, $status: [EarnedPromotionStatus!]) {{
  walletAsOf(customerId: $id, asOf: $asOf, status: $status, first: 100) {{ totalCount
  edges {{ cursor node {{ {ENTRY_FIELDS} promotion {{ id status }} }} }} }} }}"""
EXPLAIN = """query($input: RedeemPromotionsInput!) { explainRedemption(input: $input) {
  wouldSucceed checks { name passed detail code }
  allocations { promotionId earnedPromotionId redemptionCount }
  error { __typename code message retryable ... on PromotionNotRedeemableError { reason }
          ... on InvalidRequestError { field } } } }"""


async def ok(gql: GraphQLClient, document: str, field: str, variables: dict[str, Any]) -> dict[str, Any]:
    payload = (await gql.data(document, variables))[field]
    assert "Success" in payload["__typename"], payload
    return payload  # type: ignore[no-any-return]


async def earn(gql: GraphQLClient, promotion_id: str, count: int, source: str) -> list[str]:
    payload = await ok(
        gql,
        EARN,
        "earnPromotions",
        {
            "input": {
                "customerId": CUSTOMER,
                "eventTime": now_ms(),
                "earnedFromType": "ACTIVITY",
                "eventDetails": {"id": source, "type": "ACTIVITY"},
                "earnedPromotions": [
                    {"promotionId": promotion_id, "earnCount": count, "earnedFromId": source}
                ],
            }
        },
    )
    return [x["id"] for x in payload["results"][0]["customerEarnedPromotions"]]


async def busy_wallet(gql: GraphQLClient) -> dict[str, Any]:
    """Every kind of change, through the mutations: issue, an earn of three, a redemption of two
    entries, its reversal, a hold and its release, a hold and its commit, a revocation."""
    issued = (await gql.create_promotion(name="Issued"))["id"]
    earned = (await gql.create_promotion(name="Earned"))["id"]
    await gql.create_customers(CUSTOMER)
    issue = await ok(gql, ISSUE, "issuePromotion", {"p": issued, "c": "campaign-7", "ids": [CUSTOMER]})
    entries = await earn(gql, earned, 3, "order-9")
    redeemed = await ok(
        gql, REDEEM, "redeemPromotions", {"input": purchase(CUSTOMER, line(earned, 2), txn="T-1")}
    )
    await ok(
        gql,
        REVERSE,
        "reverseRedemption",
        {"input": {"redemptionId": redeemed["redemption"]["id"], "reversalIdentifier": "R-1"}},
    )
    hold = await ok(
        gql, HOLD, "holdPromotions", {"input": {"redemption": purchase(CUSTOMER, line(earned), txn="T-2")}}
    )
    await ok(gql, RELEASE_HOLD, "releaseHold", {"id": hold["hold"]["id"]})
    committed = await ok(
        gql, HOLD, "holdPromotions", {"input": {"redemption": purchase(CUSTOMER, line(earned), txn="T-3")}}
    )
    commit = await ok(gql, COMMIT_HOLD, "commitHold", {"id": committed["hold"]["id"]})
    issued_entry = issue["earnedPromotions"][0]["id"]
    await ok(gql, REVOKE, "revokeEarnedPromotions", {"customerId": CUSTOMER, "ids": [issued_entry]})
    return {
        "issued": issued,
        "earned": earned,
        "entries": entries,
        "issued_entry": issued_entry,
        "redemption": redeemed["redemption"]["id"],
        "hold": hold["hold"]["id"],
        "committed": committed["hold"]["id"],
        "commit": commit["redemption"]["id"],
    }


async def history(gql: GraphQLClient, **variables: Any) -> dict[str, Any]:
    return (await gql.data(HISTORY, {"id": CUSTOMER} | variables))["walletHistory"]  # type: ignore[no-any-return]


async def test_wallet_history_lists_each_change_once_newest_first_with_count_actor_and_source(
    gql: GraphQLClient, org_clients: dict[str, ClientCredentials]
) -> None:
    # given a wallet that saw every kind of change
    seen = await busy_wallet(gql)
    # when its history is read
    found = await history(gql)
    # then one event per change, newest first, as the database grouped and joined them
    events = [edge["node"] for edge in found["edges"]]
    assert [(x["kind"], x["promotionId"], x["count"], x["source"]) for x in events] == [
        ("REVOKED", seen["issued"], 1, None),
        ("REDEEMED", seen["earned"], 1, "T-3"),
        ("RELEASED", seen["earned"], 1, seen["committed"]),
        ("HELD", seen["earned"], 1, seen["committed"]),
        ("RELEASED", seen["earned"], 1, seen["hold"]),
        ("HELD", seen["earned"], 1, seen["hold"]),
        ("REVERSED", seen["earned"], 2, "R-1"),
        ("REDEEMED", seen["earned"], 2, "T-1"),
        ("EARNED", seen["earned"], 3, "order-9"),
        ("ISSUED", seen["issued"], 1, "campaign-7"),
    ]
    assert found["totalCount"] == 10 and not found["pageInfo"]["hasNextPage"]
    assert {x["actor"] for x in events} == {org_clients["admin"].username}
    assert [x["redemptionId"] for x in events[6:8]] == [seen["redemption"]] * 2
    assert events[1]["redemptionId"] == seen["commit"] and events[2]["redemptionId"] is None
    assert events[0]["earnedPromotionId"] == seen["issued_entry"] and events[8]["earnedPromotionId"] is None
    assert events[-1]["atISO"].endswith("Z") and all(x["customerId"] == CUSTOMER for x in events)
    assert [int(x["id"]) for x in events] == sorted((int(x["id"]) for x in events), reverse=True)


async def test_wallet_history_filters_and_pages_on_the_database(gql: GraphQLClient) -> None:
    # given the busy wallet
    await busy_wallet(gql)
    whole = [edge["node"] for edge in (await history(gql))["edges"]]
    # when filtered by kind and time, and paged two at a time
    kinds = await history(gql, kinds=["EARNED", "REDEEMED"])
    at = whole[3]["at"]
    since, until = await history(gql, since=at), await history(gql, until=at)
    paged, after = [], None
    while True:
        page = await history(gql, first=2, after=after)
        paged += [edge["node"] for edge in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    # then
    assert [x["node"]["kind"] for x in kinds["edges"]] == ["REDEEMED", "REDEEMED", "EARNED"]
    assert kinds["totalCount"] == 3
    assert [x["node"] for x in since["edges"]] == [x for x in whole if x["at"] >= at]
    assert [x["node"] for x in until["edges"]] == [x for x in whole if x["at"] < at]
    assert paged == whole


async def test_another_orgs_customer_has_an_empty_history(
    gql: GraphQLClient, other_org_clients: dict[str, ClientCredentials]
) -> None:
    await busy_wallet(gql)
    body = await gql.data(HISTORY, {"id": CUSTOMER}, as_=other_org_clients["reader"])
    assert body["walletHistory"]["edges"] == [] and body["walletHistory"]["totalCount"] == 0


async def test_a_history_page_is_one_sql_statement_whatever_its_size(
    gql: GraphQLClient, database: Database
) -> None:
    # given a customer with one event and one with a hundred and twenty
    few, many = (
        (await gql.create_promotion(name="Few"))["id"],
        (await gql.create_promotion(name="Many"))["id"],
    )
    await gql.create_customers(CUSTOMER)
    await earn(gql, few, 1, "order-0")
    for n in range(1, 120):
        await earn(gql, many, 1 + n % 3, f"order-{n}")
    await gql.data("{ __typename }")  # authenticates once: the verified secret is cached
    # when a page of 20 (with its total) and a later page are read
    with sql_statements(database) as first_statements:
        first = await history(gql, first=20)
    with sql_statements(database) as later_statements:
        await history(gql, first=20, after=first["pageInfo"]["endCursor"])
    with sql_statements(database) as filtered_statements:
        await history(gql, first=20, kinds=["EARNED"], since=0)
    # then each is one statement, and the grouping counted every event once
    assert first["totalCount"] == 120 and len(first["edges"]) == 20
    assert len(first_statements) == 1, first_statements
    assert len(later_statements) == 1 and len(filtered_statements) == 1


async def test_wallet_as_of_now_is_the_wallet_and_before_a_change_is_the_wallet_before_it(
    gql: GraphQLClient,
) -> None:
    # given the busy wallet, and an instant between its redemption and its reversal
    seen = await busy_wallet(gql)
    events = [edge["node"] for edge in (await history(gql))["edges"]]
    redeemed_at = next(x["at"] for x in events if x["source"] == "T-1")
    # when the wallet is read live, as of now and as of the redemption
    wallet = (await gql.data(WALLET, {"id": CUSTOMER}))["wallet"]
    as_of_now = (await gql.data(AS_OF, {"id": CUSTOMER, "asOf": now_ms()}))["walletAsOf"]
    then = (await gql.data(AS_OF, {"id": CUSTOMER, "asOf": redeemed_at}))["walletAsOf"]
    revoked = (await gql.data(AS_OF, {"id": CUSTOMER, "asOf": now_ms(), "status": ["REVOKED"]}))["walletAsOf"]
    # then as of now it is the wallet; as of the redemption two entries were used and none revoked
    assert as_of_now == wallet
    used = {x["node"]["id"]: x["node"]["redemptionsUsed"] for x in then["edges"]}
    assert sum(used.values()) == 2 and set(used) == {*seen["entries"], seen["issued_entry"]}
    assert {x["node"]["status"] for x in then["edges"]} == {"UNLOCKED", "REDEEMED"}
    assert [x["node"]["id"] for x in revoked["edges"]] == [seen["issued_entry"]] and revoked[
        "totalCount"
    ] == 1


async def test_explain_gives_the_error_type_and_code_redeem_returns_and_its_allocations(
    gql: GraphQLClient,
) -> None:
    # given a single-use entry
    promotion = (await gql.create_promotion(name="Once"))["id"]
    await gql.create_customers(CUSTOMER)
    [entry] = await earn(gql, promotion, 1, "order-1")
    requests = {
        "unknown customer": purchase(999, line(promotion)),
        "unknown promotion": purchase(CUSTOMER, line("f" * 24)),
        "too many": purchase(CUSTOMER, line(promotion, 2)),
        "shape": purchase(CUSTOMER, line(promotion), amount=1),
    }
    for name, body in requests.items():
        # when explained and then redeemed
        explained = (await gql.data(EXPLAIN, {"input": body}))["explainRedemption"]
        redeemed = (await gql.data(REDEEM, {"input": body}))["redeemPromotions"]
        # then the same error type and code
        error = explained["error"]
        assert (error["__typename"], error["code"], error["message"]) == (
            redeemed["__typename"],
            redeemed["code"],
            redeemed["message"],
        ), name
        assert not explained["wouldSucceed"] and explained["allocations"] == []
    # and a redemption that would pass names its allocation, which the redemption then consumes
    good = purchase(CUSTOMER, line(promotion), txn="T-ok")
    explained = (await gql.data(EXPLAIN, {"input": good}))["explainRedemption"]
    assert explained["wouldSucceed"] and explained["error"] is None
    assert explained["allocations"] == [
        {"promotionId": promotion, "earnedPromotionId": entry, "redemptionCount": 1}
    ]
    assert [x["name"] for x in explained["checks"]][-1] == f"coverage:{promotion}"
    redeemed = (await gql.data(REDEEM, {"input": good}))["redeemPromotions"]
    assert redeemed["redemption"]["consumed"] == [
        {"earnedPromotionId": entry, "promotionId": promotion, "count": 1}
    ]


async def test_explain_writes_nothing_and_answers_while_another_transaction_holds_the_wallet_lock(
    gql: GraphQLClient, database: Database
) -> None:
    # given a redeemable entry and a writer holding the customer's wallet lock
    promotion = (await gql.create_promotion(name="Locked out"))["id"]
    await gql.create_customers(CUSTOMER)
    await earn(gql, promotion, 1, "order-1")
    before = await ledger_rows(database)
    async with SqlUnitOfWork(database, write=True) as writer:
        assert await writer.customers.lock_wallet(ORG_ID, CUSTOMER)
        # when a redemption is explained meanwhile (a lock wait would last the lock timeout, 2 s)
        explained = await asyncio.wait_for(
            gql.data(EXPLAIN, {"input": purchase(CUSTOMER, line(promotion))}), timeout=1.5
        )
    # then it answered at once, and wrote nothing
    assert explained["explainRedemption"]["wouldSucceed"]
    assert await ledger_rows(database) == before


async def ledger_rows(database: Database) -> int:
    async with database.reader.connect() as connection:
        return int(
            (await connection.execute(select(func.count()).select_from(wallet_ledger_table))).scalar_one()
        )


# --- REST ------------------------------------------------------------------------------------------


async def test_rest_history_pages_the_same_events_in_the_rest_field_style(
    gql: GraphQLClient, http: httpx.AsyncClient, org_clients: dict[str, ClientCredentials]
) -> None:
    # given the busy wallet
    await busy_wallet(gql)
    whole = [edge["node"] for edge in (await history(gql))["edges"]]
    headers = org_clients["reader"].headers
    # when the REST twin is paged three at a time
    events, cursor = [], None
    while True:
        params: dict[str, Any] = {"limit": 3} | ({"cursor": cursor} if cursor else {})
        response = await http.get(f"{REST}/customer/{CUSTOMER}/history", params=params, headers=headers)
        assert response.status_code == 200, response.text
        data = response.json()["data"]
        events += data["events"]
        cursor = data["nextCursor"]
        if cursor is None:
            break
    # then the same events, field for field
    assert events == whole
    kinds = await http.get(
        f"{REST}/customer/{CUSTOMER}/history", params={"kind": ["ISSUED"]}, headers=headers
    )
    assert [x["kind"] for x in kinds.json()["data"]["events"]] == ["ISSUED"]
    bad = await http.get(f"{REST}/customer/{CUSTOMER}/history", params={"cursor": "nope"}, headers=headers)
    assert bad.status_code == 400 and bad.json()["errors"][0]["code"] == 400


async def test_rest_explain_answers_the_redemptions_routes_code_and_changes_nothing(
    gql: GraphQLClient, http: httpx.AsyncClient, database: Database, org_clients: dict[str, ClientCredentials]
) -> None:
    # given a used-up entry
    promotion = (await gql.create_promotion(name="Used"))["id"]
    await gql.create_customers(CUSTOMER)
    await earn(gql, promotion, 1, "order-1")
    await ok(gql, REDEEM, "redeemPromotions", {"input": purchase(CUSTOMER, line(promotion), txn="first")})
    body = purchase(CUSTOMER, line(promotion), txn="second")
    before = await ledger_rows(database)
    # when it is explained and redeemed over REST
    explained = await http.post(
        f"{REST}/redemptions/explain", json=body, headers=org_clients["reader"].headers
    )
    redeemed = await http.post(f"{REST}/redemptions", json=body, headers=org_clients["writer"].headers)
    # then the explanation carries the code and message the redemption answers
    assert explained.status_code == 200, explained.text
    data = explained.json()["data"]
    assert redeemed.status_code == 400
    assert (data["error"]["code"], data["error"]["message"]) == (
        redeemed.json()["errors"][0]["code"],
        redeemed.json()["errors"][0]["message"],
    )
    assert data["error"]["reason"] == "ALREADY_REDEEMED" and not data["wouldSucceed"]
    assert data["checks"][-1] == {
        "name": f"coverage:{promotion}",
        "passed": False,
        "code": 400,
        "detail": data["checks"][-1]["detail"],
    }
    assert await ledger_rows(database) == before


AS_OF_PAGE = f"""query($id: Long!, $asOf: Long!, $status: [EarnedPromotionStatus!], $first: Int,
  $after: String) {{
  walletAsOf(customerId: $id, asOf: $asOf, status: $status, first: $first, after: $after) {{ totalCount
  pageInfo {{ hasNextPage endCursor }} edges {{ cursor node {{ {ENTRY_FIELDS} }} }} }} }}"""


async def test_wallet_as_of_pages_the_same_entries_with_or_without_a_status_filter(
    gql: GraphQLClient,
) -> None:
    # given the busy wallet (its four entries) and an instant after everything
    await busy_wallet(gql)
    at = now_ms()
    every_status = ["LOCKED", "UNLOCKED", "REDEEMED", "EXPIRED", "REVOKED"]

    async def pages(status: list[str] | None) -> tuple[list[dict[str, Any]], set[int]]:
        nodes, totals, after = [], set(), None
        while True:
            variables = {"id": CUSTOMER, "asOf": at, "status": status, "first": 2, "after": after}
            found = (await gql.data(AS_OF_PAGE, variables))["walletAsOf"]
            nodes += [edge["node"] for edge in found["edges"]]
            totals.add(found["totalCount"])
            if not found["pageInfo"]["hasNextPage"]:
                return nodes, totals
            after = found["pageInfo"]["endCursor"]

    # when it is paged two at a time, without a filter (only each page replayed) and with every status
    plain, plain_totals = await pages(None)
    filtered, filtered_totals = await pages(every_status)
    # then the same entries, in the wallet's order, with one total
    wallet = [edge["node"] for edge in (await gql.data(WALLET, {"id": CUSTOMER}))["wallet"]["edges"]]
    assert plain == filtered == [{k: v for k, v in x.items() if k != "promotion"} for x in wallet]
    assert plain_totals == filtered_totals == {4}
