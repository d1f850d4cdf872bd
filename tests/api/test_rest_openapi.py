"""The OpenAPI document (/openapi.json, /docs) shows the REST routes with the spec pages' examples."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import httpx
import pytest

from app.rest.schemas import (
    EARN_REQUEST_EXAMPLE,
    EARN_RESPONSE_EXAMPLE,
    ISSUE_RESPONSE_EXAMPLE,
    REDEEM_REQUEST_EXAMPLE,
    REDEEM_RESPONSE_EXAMPLE,
    EarnBulkRequest,
    RedeemRequest,
)
from tests.api.rest_support import PREFIXES


@pytest.fixture
async def document(http: httpx.AsyncClient) -> dict[str, Any]:
    response = await http.get("/openapi.json")
    assert response.status_code == 200
    return response.json()  # type: ignore[no-any-return]


def _json(operation: dict[str, Any], status: str) -> dict[str, Any]:
    return operation["responses"][status]["content"]["application/json"]  # type: ignore[no-any-return]


@pytest.mark.parametrize("prefix", PREFIXES)
async def test_every_route_is_documented_with_the_spec_examples(
    document: dict[str, Any], prefix: str
) -> None:
    paths = document["paths"]
    issue = paths[f"{prefix}/{{promotionId}}/issueBulk"]["post"]
    earn = paths[f"{prefix}/earn/bulk"]["post"]
    redeem = paths[f"{prefix}/redemptions"]["post"]
    wallet = paths[f"{prefix}/customer/{{customerId}}"]["get"]

    # request examples
    issue_examples = issue["requestBody"]["content"]["application/json"]["examples"]
    assert [x["value"] for x in issue_examples.values()] == [[564332013], [566881933, 566135941]]
    assert (
        earn["requestBody"]["content"]["application/json"]["examples"]["spec"]["value"]
        == EARN_REQUEST_EXAMPLE
    )
    assert (
        redeem["requestBody"]["content"]["application/json"]["examples"]["spec"]["value"]
        == REDEEM_REQUEST_EXAMPLE
    )
    # response examples
    assert _json(issue, "200")["example"] == ISSUE_RESPONSE_EXAMPLE
    assert _json(earn, "200")["example"] == EARN_RESPONSE_EXAMPLE
    assert _json(redeem, "200")["example"] == REDEEM_RESPONSE_EXAMPLE
    # parameters, errors, security
    assert {p["name"] for p in wallet["parameters"]} >= {
        "customerId",
        "limit",
        "cursor",
        "X-CAP-API-AUTH-ORG-ID",
    }
    assert {p["name"] for p in issue["parameters"]} >= {"promotionId", "contextId"}
    for operation in (issue, earn, redeem, wallet):
        assert {"400", "401", "403", "500"} <= set(operation["responses"])
        assert "422" not in operation["responses"]
        assert operation["security"] == [{"basicAuth": []}, {"bearerAuth": []}]
    assert {"405", "406", "503"} <= set(redeem["responses"])
    assert "Retry-After" in redeem["responses"]["503"]["headers"]


@pytest.mark.parametrize("prefix", PREFIXES)
async def test_the_reversals_route_is_documented_with_its_body_errors_and_security(
    document: dict[str, Any], prefix: str
) -> None:
    reversals = document["paths"][f"{prefix}/redemptions/{{redemptionId}}/reversals"]["post"]
    schema = reversals["requestBody"]["content"]["application/json"]["schema"]
    assert set(schema["properties"]) == {"reversalIdentifier", "reason", "lines"}
    assert schema["required"] == ["reversalIdentifier"]
    assert {p["name"] for p in reversals["parameters"]} >= {"redemptionId"}
    assert {"400", "401", "403", "404", "500", "503"} <= set(reversals["responses"])
    assert "422" not in reversals["responses"]
    assert reversals["security"] == [{"basicAuth": []}, {"bearerAuth": []}]
    assert _json(reversals, "200")["example"]["data"]["redemption"]["status"] == "REVERSED"


async def test_the_docs_page_is_served(http: httpx.AsyncClient, document: dict[str, Any]) -> None:
    response = await http.get("/docs")
    assert response.status_code == 200 and "swagger" in response.text.lower()
    assert not any(path.startswith("/graphql") for path in document["paths"])


def _unstated_strings(node: Any, where: str, stated: bool = False) -> list[str]:
    """Where a string schema has no pattern or enum, on itself or on the schema whose `anyOf`
    branch it is (a `pattern` there applies to the string branch too)."""
    found: list[str] = []
    if isinstance(node, dict):
        stated = stated or "pattern" in node or "enum" in node
        if (node.get("type") == "string" or "string" in (node.get("type") or [])) and not stated:
            found.append(where)
        for key, value in node.items():
            found += _unstated_strings(value, f"{where}.{key}", stated and key in ("anyOf", "oneOf"))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += _unstated_strings(value, f"{where}[{index}]", stated)
    return found


async def test_every_text_a_rest_request_carries_is_described_as_the_server_accepts_it(
    document: dict[str, Any],
) -> None:
    # schemathesis generates what the document allows (tests/fuzz): a string without a pattern
    # or an enum would let it send a NUL, which the server refuses (domain/text.py).
    unstated = []
    for path, item in document["paths"].items():
        if not path.startswith(PREFIXES):
            continue
        for method, operation in item.items():
            request = {
                "parameters": [p for p in operation.get("parameters", []) if p["in"] != "header"],
                "body": operation.get("requestBody", {}),
            }
            unstated += _unstated_strings(request, f"{method.upper()} {path}")
    assert unstated == []


def test_a_rest_integer_may_be_sent_as_a_json_number_with_no_fraction() -> None:
    # JSON Schema's "integer" is any number with no fraction (5.0 is one), as GraphQL's Int is.
    # The routes read JSON numbers with a fraction or exponent as Decimal (routes.read_json).
    body = RedeemRequest.model_validate(
        {
            "customerId": Decimal("566881933.0"),
            "transactionIdentifier": "t",
            "transactionNumber": "n",
            "transactionDate": Decimal("1.7E+12"),
            "amount": 1,
            "redemptions": [],
        }
    )
    assert (body.customer_id, body.transaction_date) == (566881933, 1_700_000_000_000)
    with pytest.raises(ValueError, match="valid integer"):
        EarnBulkRequest.model_validate(
            {
                "customerId": 1,
                "eventTime": Decimal("1.5"),
                "earnedFromType": "BULK_ISSUE",
                "eventDetails": {"id": "e", "type": "BULK_ISSUE"},
                "earnedPromotions": [],
            }
        )
