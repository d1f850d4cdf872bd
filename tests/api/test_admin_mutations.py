"""Admin mutations over HTTP: createPromotion, createCustomer, importCustomers, updateOrgSettings."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from app.domain.clock import DAY_MS, MAX_INSTANT_MS, now_ms
from app.main import create_app
from app.persistence.database import Database
from app.persistence.tables import customer_identifier_table, customer_table
from app.persistence.uow import SqlUnitOfWork
from app.settings import Settings
from tests.support import ClientCredentials, GraphQLClient

CREATE_PROMOTION = """mutation($input: CreatePromotionInput!) { createPromotion(input: $input) {
  __typename
  ... on CreatePromotionSuccess { promotion { id name type status active startDate endDate
        redemptionWindowDays maxRedemptionsPerEarn maxEarnsPerCustomer } }
  ... on Error { code message retryable }
  ... on InvalidRequestError { field }
  ... on MaxActivePromotionsExceededError { limit } } }"""

CREATE_CUSTOMER = """mutation($input: CreateCustomerInput!) { createCustomer(input: $input) {
  __typename
  ... on CreateCustomerSuccess { customer { id mobile email externalId } }
  ... on Error { code message }
  ... on InvalidRequestError { field } } }"""

IMPORT_CUSTOMERS = """mutation($customers: [CreateCustomerInput!]!) { importCustomers(customers: $customers) {
  __typename
  ... on ImportCustomersSuccess { createdCount skippedCount
        rejected { index error { __typename code message ... on InvalidRequestError { field } } } }
  ... on Error { code message }
  ... on InvalidRequestError { field } } }"""

UPDATE_SETTINGS = """mutation($input: UpdateOrgSettingsInput!) { updateOrgSettings(input: $input) {
  __typename
  ... on UpdateOrgSettingsSuccess { settings { timezone maxActivePromotions redemptionWithoutEvaluation
        webEngageAccountId } }
  ... on Error { code message }
  ... on InvalidRequestError { field } } }"""

PROMOTIONS_COUNT = "{ promotions { totalCount } }"


def promotion_input(**overrides: Any) -> dict[str, Any]:
    now = now_ms()
    return {
        "name": "Spend 5000, get 500",
        "type": "EARNING",
        "startDate": now - DAY_MS,
        "endDate": now + 30 * DAY_MS,
    } | overrides


async def create_promotion(gql: GraphQLClient, **overrides: Any) -> dict[str, Any]:
    data = await gql.data(CREATE_PROMOTION, {"input": promotion_input(**overrides)})
    return data["createPromotion"]  # type: ignore[no-any-return]


async def set_cap(gql: GraphQLClient, cap: int) -> None:
    data = await gql.data(UPDATE_SETTINGS, {"input": {"maxActivePromotions": cap}})
    assert data["updateOrgSettings"]["settings"]["maxActivePromotions"] == cap


async def count_customers(database: Database) -> tuple[int, int]:
    async with SqlUnitOfWork(database) as uow:
        customers = (await uow.session.execute(select(func.count()).select_from(customer_table))).scalar_one()
        identifiers = (
            await uow.session.execute(select(func.count()).select_from(customer_identifier_table))
        ).scalar_one()
    return int(customers), int(identifiers)


# --- createPromotion -----------------------------------------------------------------------------


async def test_create_promotion_returns_the_stored_promotion_with_defaults(gql: GraphQLClient) -> None:
    # given
    values = promotion_input(type="CUSTOMER", redemptionWindowDays=7)
    # when
    payload = (await gql.data(CREATE_PROMOTION, {"input": values}))["createPromotion"]
    # then
    assert payload["__typename"] == "CreatePromotionSuccess"
    created = payload["promotion"]
    assert len(created["id"]) == 24 and all(c in "0123456789abcdef" for c in created["id"])
    assert created | {"id": None} == {
        "id": None,
        "name": values["name"],
        "type": "CUSTOMER",
        "status": "ACTIVE",
        "active": True,
        "startDate": values["startDate"],
        "endDate": values["endDate"],
        "redemptionWindowDays": 7,
        "maxRedemptionsPerEarn": 1,
        "maxEarnsPerCustomer": None,
    }
    # and it can be read back
    read = await gql.data("query($id: String!) { promotion(id: $id) { id name } }", {"id": created["id"]})
    assert read == {"promotion": {"id": created["id"], "name": values["name"]}}


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"name": ""}, "name"),
        ({"name": "x" * 51}, "name"),
        ({"startDate": -1, "endDate": 10}, "startDate"),
        ({"startDate": 1000, "endDate": 999}, "endDate"),
        ({"endDate": MAX_INSTANT_MS + 1}, "endDate"),
        ({"redemptionWindowDays": 0}, "redemptionWindowDays"),
        ({"maxRedemptionsPerEarn": 0}, "maxRedemptionsPerEarn"),
        ({"maxEarnsPerCustomer": 0}, "maxEarnsPerCustomer"),
    ],
)
async def test_create_promotion_with_bad_input_is_a_400_naming_the_field_and_stores_nothing(
    gql: GraphQLClient, overrides: dict[str, Any], field: str
) -> None:
    # when
    payload = await create_promotion(gql, **overrides)
    # then
    assert payload["__typename"] == "InvalidRequestError"
    assert payload["code"] == 400 and payload["field"] == field and payload["retryable"] is False
    assert await gql.data(PROMOTIONS_COUNT) == {"promotions": {"totalCount": 0}}


async def test_activating_a_promotion_past_the_org_cap_is_a_705_with_the_limit(gql: GraphQLClient) -> None:
    # given an org allowing 2 active promotions, which has 2
    await set_cap(gql, 2)
    assert (await create_promotion(gql))["__typename"] == "CreatePromotionSuccess"
    assert (await create_promotion(gql))["__typename"] == "CreatePromotionSuccess"
    # when a third active one is created
    payload = await create_promotion(gql)
    # then
    assert payload["__typename"] == "MaxActivePromotionsExceededError"
    assert payload["code"] == 705 and payload["limit"] == 2
    assert await gql.data(PROMOTIONS_COUNT) == {"promotions": {"totalCount": 2}}


async def test_inactive_and_expired_promotions_do_not_count_toward_the_cap(gql: GraphQLClient) -> None:
    # given an org allowing 1 active promotion, with an inactive and an expired one
    await set_cap(gql, 1)
    now = now_ms()
    assert (await create_promotion(gql, active=False))["__typename"] == "CreatePromotionSuccess"
    expired = await create_promotion(gql, startDate=now - 10 * DAY_MS, endDate=now - DAY_MS)
    assert expired["__typename"] == "CreatePromotionSuccess"
    assert expired["promotion"]["status"] == "EXPIRED"
    # when an active one is created
    payload = await create_promotion(gql)
    # then it fits
    assert payload["__typename"] == "CreatePromotionSuccess"
    # and the next one does not
    assert (await create_promotion(gql))["__typename"] == "MaxActivePromotionsExceededError"
    # but another inactive one still may be created
    assert (await create_promotion(gql, active=False))["__typename"] == "CreatePromotionSuccess"


async def test_an_upcoming_promotion_counts_toward_the_cap(gql: GraphQLClient) -> None:
    # given an org allowing 1 active promotion with one starting next week
    await set_cap(gql, 1)
    now = now_ms()
    upcoming = await create_promotion(gql, startDate=now + 7 * DAY_MS, endDate=now + 30 * DAY_MS)
    assert upcoming["promotion"]["status"] == "UPCOMING"
    # when / then
    assert (await create_promotion(gql))["__typename"] == "MaxActivePromotionsExceededError"


# --- createCustomer ------------------------------------------------------------------------------


async def test_create_customer_returns_the_customer_with_its_identifiers(gql: GraphQLClient) -> None:
    # when
    data = await gql.data(
        CREATE_CUSTOMER,
        {
            "input": {
                "id": 5668819330,
                "mobile": "9876543210",
                "email": "asha@example.com",
                "externalId": "CRM-1",
            }
        },
    )
    # then
    assert data["createCustomer"] == {
        "__typename": "CreateCustomerSuccess",
        "customer": {
            "id": 5668819330,
            "mobile": "9876543210",
            "email": "asha@example.com",
            "externalId": "CRM-1",
        },
    }
    read = await gql.data('{ customer(identifierType: EXTERNAL_ID, identifierValue: "CRM-1") { id } }')
    assert read == {"customer": {"id": 5668819330}}


@pytest.mark.parametrize(
    "again",
    [
        {"id": 5668819330},
        {"id": 5668819330, "mobile": "9876543210"},
        {"id": 5668819330, "email": "b@example.com"},
    ],
)
async def test_create_customer_with_an_existing_id_is_a_400_on_id(
    gql: GraphQLClient, database: Database, again: dict[str, Any]
) -> None:
    # given
    await gql.create_customers(5668819330, mobile="9876543210")
    # when
    payload = (await gql.data(CREATE_CUSTOMER, {"input": again}))["createCustomer"]
    # then
    assert payload["__typename"] == "InvalidRequestError"
    assert payload["code"] == 400 and payload["field"] == "id"
    assert await count_customers(database) == (1, 1)


@pytest.mark.parametrize(
    ("identifier", "field"),
    [
        ({"mobile": "9876543210"}, "mobile"),
        ({"email": "asha@example.com"}, "email"),
        ({"externalId": "CRM-1"}, "external_id"),
    ],
)
async def test_create_customer_with_an_identifier_of_another_customer_is_a_400(
    gql: GraphQLClient, database: Database, identifier: dict[str, str], field: str
) -> None:
    # given
    await gql.create_customers(1, mobile="9876543210", email="asha@example.com", externalId="CRM-1")
    # when
    payload = (await gql.data(CREATE_CUSTOMER, {"input": {"id": 2} | identifier}))["createCustomer"]
    # then
    assert payload["__typename"] == "InvalidRequestError"
    assert payload["code"] == 400
    assert payload["field"] in (field, "externalId")
    assert await count_customers(database) == (1, 3)


@pytest.mark.parametrize("customer_id", [0, -1, -(2**63)])
async def test_create_customer_with_a_non_positive_id_is_a_1006(
    gql: GraphQLClient, database: Database, customer_id: int
) -> None:
    payload = (await gql.data(CREATE_CUSTOMER, {"input": {"id": customer_id}}))["createCustomer"]
    assert payload["__typename"] == "InvalidCustomerIdentifierError"
    assert payload["code"] == 1006
    assert await count_customers(database) == (0, 0)


@pytest.mark.parametrize(
    ("identifier", "field"),
    [
        ({"email": "not-an-email"}, "email"),
        ({"mobile": "call me"}, "mobile"),
        ({"externalId": ""}, "externalId"),
    ],
)
async def test_create_customer_with_an_invalid_identifier_is_a_400(
    gql: GraphQLClient, database: Database, identifier: dict[str, str], field: str
) -> None:
    payload = (await gql.data(CREATE_CUSTOMER, {"input": {"id": 3} | identifier}))["createCustomer"]
    assert payload["__typename"] == "InvalidRequestError"
    assert payload["code"] == 400 and payload["field"] == field
    assert await count_customers(database) == (0, 0)


async def test_a_customer_id_beyond_64_bits_is_a_validation_error(gql: GraphQLClient) -> None:
    body = await gql(CREATE_CUSTOMER, {"input": {"id": 2**63}})
    assert body["data"] is None
    assert "64-bit" in body["errors"][0]["message"]


# --- importCustomers -----------------------------------------------------------------------------


async def test_import_creates_valid_rows_and_rejects_each_bad_row_at_its_index(
    gql: GraphQLClient, database: Database
) -> None:
    # given existing customers 1 (with a mobile) and 2
    await gql.create_customers(1, mobile="1111111111")
    await gql.create_customers(2)
    rows = [
        {"id": 10, "email": "ten@example.com"},  # 0 created
        {"id": 0},  # 1 rejected: 1006
        {"id": 11, "email": "bad"},  # 2 rejected: email
        {"id": 1, "mobile": "1111111111"},  # 3 skipped: identical to the existing customer
        {"id": 2, "mobile": "2222222222"},  # 4 rejected: exists with other identifiers
        {"id": 12, "mobile": "1111111111"},  # 5 rejected: mobile of customer 1
        {"id": 13, "email": "ten@example.com"},  # 6 rejected: email of row 0 in this call
        {"id": 10, "email": "ten@example.com"},  # 7 skipped: repeats row 0 exactly
        {"id": 10, "email": "other@example.com"},  # 8 rejected: repeats row 0's id differently
        {"id": 14},  # 9 created
        {"id": -5},  # 10 rejected: 1006
    ]
    # when
    payload = (await gql.data(IMPORT_CUSTOMERS, {"customers": rows}))["importCustomers"]
    # then
    assert payload["__typename"] == "ImportCustomersSuccess"
    rejected = {
        r["index"]: (r["error"]["__typename"], r["error"]["code"], r["error"].get("field"))
        for r in payload["rejected"]
    }
    assert rejected == {
        1: ("InvalidCustomerIdentifierError", 1006, None),
        2: ("InvalidRequestError", 400, "email"),
        4: ("InvalidRequestError", 400, "id"),
        5: ("InvalidRequestError", 400, "mobile"),
        6: ("InvalidRequestError", 400, "email"),
        8: ("InvalidRequestError", 400, "id"),
        10: ("InvalidCustomerIdentifierError", 1006, None),
    }
    assert [r["index"] for r in payload["rejected"]] == sorted(rejected)
    assert payload["createdCount"] == 2
    assert payload["skippedCount"] == 2
    assert payload["createdCount"] + payload["skippedCount"] + len(payload["rejected"]) == len(rows)
    # and exactly the created rows were stored
    assert await count_customers(database) == (4, 2)
    read = await gql.data(
        "{ a: customer(id: 10) { email } b: customer(id: 14) { id } c: customer(id: 2) { mobile } }"
    )
    assert read == {"a": {"email": "ten@example.com"}, "b": {"id": 14}, "c": {"mobile": None}}


async def test_importing_the_same_customers_twice_skips_them_the_second_time(gql: GraphQLClient) -> None:
    # given
    rows = [{"id": i, "mobile": f"90000000{i:02d}"} for i in range(1, 21)]
    first = (await gql.data(IMPORT_CUSTOMERS, {"customers": rows}))["importCustomers"]
    # when
    second = (await gql.data(IMPORT_CUSTOMERS, {"customers": rows}))["importCustomers"]
    # then
    assert (first["createdCount"], first["skippedCount"], first["rejected"]) == (20, 0, [])
    assert (second["createdCount"], second["skippedCount"], second["rejected"]) == (0, 20, [])


async def test_an_empty_import_creates_nothing(gql: GraphQLClient) -> None:
    payload = (await gql.data(IMPORT_CUSTOMERS, {"customers": []}))["importCustomers"]
    assert payload == {
        "__typename": "ImportCustomersSuccess",
        "createdCount": 0,
        "skippedCount": 0,
        "rejected": [],
    }


LARGE_IMPORT = 100_000  # DESIGN: importCustomers takes up to 100,000 in one call, on either database


async def test_a_large_import_creates_every_customer_in_one_call(
    gql: GraphQLClient, database: Database
) -> None:
    # given 100,000 customers, every other one with a mobile
    # (kept small enough for the default 4 MiB request-body limit)
    rows = [
        {"id": 5_000_000_000 + i} | ({"mobile": f"9{i:09d}"} if i % 2 else {}) for i in range(LARGE_IMPORT)
    ]
    # when
    started = time.perf_counter()
    payload = (await gql.data(IMPORT_CUSTOMERS, {"customers": rows}))["importCustomers"]
    elapsed = time.perf_counter() - started
    # then
    assert (payload["createdCount"], payload["skippedCount"], payload["rejected"]) == (LARGE_IMPORT, 0, [])
    assert await count_customers(database) == (LARGE_IMPORT, LARGE_IMPORT // 2)
    print(f"imported {LARGE_IMPORT} customers in {elapsed:.1f} s")


@asynccontextmanager
async def client_of(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            yield http


async def test_an_import_larger_than_max_batch_is_a_400_and_creates_nothing(
    settings: Settings, org_clients: dict[str, ClientCredentials], database: Database
) -> None:
    # given a service configured with PROMO_WALLET_MAX_BATCH=3
    limited = settings.model_copy(update={"max_batch": 3})
    async with client_of(limited) as http:
        gql = GraphQLClient(http=http, default=org_clients["admin"])
        # when
        too_many = await gql.data(IMPORT_CUSTOMERS, {"customers": [{"id": i} for i in range(1, 5)]})
        just_right = await gql.data(IMPORT_CUSTOMERS, {"customers": [{"id": i} for i in range(1, 4)]})
    # then
    assert too_many["importCustomers"]["__typename"] == "InvalidRequestError"
    assert too_many["importCustomers"]["field"] == "customers"
    assert just_right["importCustomers"]["createdCount"] == 3
    assert await count_customers(database) == (3, 0)


# --- updateOrgSettings ---------------------------------------------------------------------------


async def test_org_settings_start_at_their_defaults_and_an_empty_update_changes_nothing(
    gql: GraphQLClient,
) -> None:
    data = await gql.data(UPDATE_SETTINGS, {"input": {}})
    assert data["updateOrgSettings"] == {
        "__typename": "UpdateOrgSettingsSuccess",
        "settings": {
            "timezone": "Asia/Kolkata",
            "maxActivePromotions": 250,
            "redemptionWithoutEvaluation": True,
            "webEngageAccountId": None,
        },
    }


async def test_update_org_settings_changes_only_the_given_fields_and_keeps_them(gql: GraphQLClient) -> None:
    # when
    first = await gql.data(
        UPDATE_SETTINGS, {"input": {"timezone": "Europe/Berlin", "maxActivePromotions": 5}}
    )
    second = await gql.data(UPDATE_SETTINGS, {"input": {"redemptionWithoutEvaluation": False}})
    # then
    assert first["updateOrgSettings"]["settings"]["timezone"] == "Europe/Berlin"
    assert second["updateOrgSettings"]["settings"] == {
        "timezone": "Europe/Berlin",
        "maxActivePromotions": 5,
        "redemptionWithoutEvaluation": False,
        "webEngageAccountId": None,
    }


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"timezone": "Mars/Olympus_Mons"}, "timezone"),
        ({"timezone": ""}, "timezone"),
        ({"timezone": "asia/kolkata"}, "timezone"),
        ({"maxActivePromotions": 0}, "maxActivePromotions"),
        ({"maxActivePromotions": -3}, "maxActivePromotions"),
        ({"webEngageAccountId": "x" * 65}, "webEngageAccountId"),
    ],
)
async def test_bad_org_settings_are_a_400_naming_the_field_and_change_nothing(
    gql: GraphQLClient, change: dict[str, Any], field: str
) -> None:
    # when
    payload = await gql.data(UPDATE_SETTINGS, {"input": change | {"redemptionWithoutEvaluation": False}})
    # then
    assert payload["updateOrgSettings"]["__typename"] == "InvalidRequestError"
    assert payload["updateOrgSettings"]["field"] == field
    unchanged = await gql.data(UPDATE_SETTINGS, {"input": {}})
    assert unchanged["updateOrgSettings"]["settings"]["redemptionWithoutEvaluation"] is True
    assert unchanged["updateOrgSettings"]["settings"]["timezone"] == "Asia/Kolkata"


async def test_max_active_promotions_of_one_is_allowed(gql: GraphQLClient) -> None:
    await set_cap(gql, 1)


async def test_web_engage_account_id_can_be_set_and_cleared(gql: GraphQLClient) -> None:
    # when it is set
    set_ = await gql.data(UPDATE_SETTINGS, {"input": {"webEngageAccountId": "~2024c5d1"}})
    # and another setting is changed without naming it
    kept = await gql.data(UPDATE_SETTINGS, {"input": {"maxActivePromotions": 9}})
    # and it is cleared with an empty string
    cleared = await gql.data(UPDATE_SETTINGS, {"input": {"webEngageAccountId": ""}})
    # then
    assert set_["updateOrgSettings"]["settings"]["webEngageAccountId"] == "~2024c5d1"
    assert kept["updateOrgSettings"]["settings"]["webEngageAccountId"] == "~2024c5d1"
    assert cleared["updateOrgSettings"]["settings"]["webEngageAccountId"] is None
    assert cleared["updateOrgSettings"]["settings"]["maxActivePromotions"] == 9


async def test_settings_of_one_org_do_not_touch_another(
    gql: GraphQLClient, other_org_clients: dict[str, ClientCredentials]
) -> None:
    await set_cap(gql, 3)
    theirs = await gql.data(UPDATE_SETTINGS, {"input": {}}, as_=other_org_clients["admin"])
    assert theirs["updateOrgSettings"]["settings"]["maxActivePromotions"] == 250
    assert theirs["updateOrgSettings"]["settings"]["timezone"] == "UTC"
