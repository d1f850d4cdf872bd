"""GET /metrics: Prometheus text with requests and latency per GraphQL operation and REST route,
mutation outcomes by __typename and error code, and successful redemptions."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families

from app.observability import metrics
from app.services.demo import DEMO_CUSTOMERS, seed_demo
from tests.support import basic_auth

ADMIN = basic_auth("demo-admin", "demo-admin-secret")
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]

WALLET = """query MetricsWallet($id: Long!) { wallet(customerId: $id) { totalCount
  edges { node { id promotionId status promotion { type } } } } }"""
REDEEM = """mutation Redeem($input: RedeemPromotionsInput!) { redeemPromotions(input: $input) {
  __typename ... on Error { code } } }"""


@pytest.fixture
async def demo(app: FastAPI, http: httpx.AsyncClient) -> AsyncIterator[httpx.AsyncClient]:
    await seed_demo(app.state.uow_factory)
    yield http


async def scrape(http: httpx.AsyncClient) -> Samples:
    response = await http.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def delta(before: Samples, after: Samples, name: str, **labels: str) -> float:
    key = (name, frozenset(labels.items()))
    return after.get(key, 0.0) - before.get(key, 0.0)


async def gql(http: httpx.AsyncClient, query: str, variables: dict[str, Any] | None = None) -> Any:
    response = await http.post("/graphql", json={"query": query, "variables": variables or {}}, headers=ADMIN)
    assert response.status_code == 200, response.text
    return response.json()


async def test_a_named_query_is_counted_and_timed_per_operation_and_route(demo: httpx.AsyncClient) -> None:
    # given
    before = await scrape(demo)
    # when
    body = await gql(demo, WALLET, {"id": DEMO_CUSTOMERS[0].id})
    await gql(demo, "{ promotions { totalCount } }")
    after = await scrape(demo)
    # then
    assert body["data"]["wallet"]["totalCount"] == 6
    ops = "promo_wallet_graphql_operations_total"
    assert delta(before, after, ops, operation="MetricsWallet", type="query", outcome="ok") == 1
    assert delta(before, after, ops, operation="anonymous", type="query", outcome="ok") == 1
    latency = "promo_wallet_graphql_operation_duration_seconds_count"
    assert delta(before, after, latency, operation="MetricsWallet", type="query") == 1
    http_total = "promo_wallet_http_requests_total"
    assert delta(before, after, http_total, method="POST", route="/graphql", status="200") == 2
    http_latency = "promo_wallet_http_request_duration_seconds_count"
    assert delta(before, after, http_latency, method="POST", route="/graphql") == 2


async def test_rest_routes_are_counted_by_template_and_unknown_paths_share_one_label(
    demo: httpx.AsyncClient,
) -> None:
    before = await scrape(demo)
    assert (await demo.get("/healthz")).status_code == 200
    assert (await demo.post("/oauth/token", data={"grant_type": "client_credentials"})).status_code == 401
    assert (await demo.get("/no/such/path/123")).status_code == 404
    after = await scrape(demo)
    http_total = "promo_wallet_http_requests_total"
    assert delta(before, after, http_total, method="GET", route="/healthz", status="200") == 1
    assert delta(before, after, http_total, method="POST", route="/oauth/token", status="401") == 1
    assert delta(before, after, http_total, method="GET", route="unmatched", status="404") == 1
    assert not any("/no/such/path" in str(labels) for _, labels in after)


async def test_mutation_outcomes_are_counted_by_typename_and_code_and_redemptions_counted(
    demo: httpx.AsyncClient,
) -> None:
    # given a demo customer's unlocked CUSTOMER promotion
    wallet = (await gql(demo, WALLET, {"id": DEMO_CUSTOMERS[0].id}))["data"]["wallet"]
    promotion_id = next(
        edge["node"]["promotionId"]
        for edge in wallet["edges"]
        if edge["node"]["status"] == "UNLOCKED" and edge["node"]["promotion"]["type"] == "CUSTOMER"
    )
    line = {
        "promotionId": promotion_id,
        "redemptionCount": 1,
        "discount": "200",
        "discountAppliedOnQuantity": "1",
        "promotionAppliedOnQuantity": "1",
    }

    def purchase(customer_id: int, txn: str) -> dict[str, Any]:
        return {
            "customerId": customer_id,
            "transactionIdentifier": txn,
            "transactionNumber": "bill-1",
            "transactionDate": 1743521508000,
            "amount": "1000",
            "lineItems": [line],
        }

    before = await scrape(demo)
    # when one redemption succeeds and one names an unknown customer
    ok = await gql(demo, REDEEM, {"input": purchase(DEMO_CUSTOMERS[0].id, "metrics-txn-1")})
    missing = await gql(demo, REDEEM, {"input": purchase(999_999_999, "metrics-txn-2")})
    after = await scrape(demo)

    # then
    assert ok["data"]["redeemPromotions"]["__typename"] == "RedeemPromotionsSuccess", ok
    assert missing["data"]["redeemPromotions"] == {"__typename": "CustomerNotFoundError", "code": 404}
    results = "promo_wallet_graphql_mutation_results_total"
    success = {"mutation": "redeemPromotions", "result": "RedeemPromotionsSuccess", "code": ""}
    assert delta(before, after, results, **success) == 1
    refused = {"mutation": "redeemPromotions", "result": "CustomerNotFoundError", "code": "404"}
    assert delta(before, after, results, **refused) == 1
    assert delta(before, after, "promo_wallet_redemptions_total") == 1
    ops = "promo_wallet_graphql_operations_total"
    assert delta(before, after, ops, operation="Redeem", type="mutation", outcome="ok") == 2


async def test_a_refused_permission_counts_as_an_exception_and_the_operation_as_an_error(
    demo: httpx.AsyncClient,
) -> None:
    before = await scrape(demo)
    response = await demo.post(
        "/graphql",
        json={"query": 'mutation Denied { createCustomer(input: {id: 1}) { __typename } }'},
        headers=basic_auth("demo-reader", "demo-reader-secret"),
    )
    after = await scrape(demo)
    assert response.json()["errors"]
    results = "promo_wallet_graphql_mutation_results_total"
    assert delta(before, after, results, mutation="createCustomer", result="exception", code="") == 1
    ops = "promo_wallet_graphql_operations_total"
    assert delta(before, after, ops, operation="Denied", type="mutation", outcome="error") == 1


def test_operation_names_from_clients_cannot_grow_the_label_set_without_bound(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(metrics, "_seen_names", set())
    monkeypatch.setattr(metrics, "MAX_OPERATION_NAMES", 2)
    assert metrics.operation_label(None) == "anonymous"
    assert [metrics.operation_label(n) for n in ("A", "B", "C", "A")] == ["A", "B", "other", "A"]
    assert metrics.operation_label("x" * 65) == "invalid"
