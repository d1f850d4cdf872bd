"""The OpenAPI document (/openapi.json, /docs) shows the REST routes with the spec pages' examples."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from app.rest.schemas import (
    EARN_REQUEST_EXAMPLE,
    EARN_RESPONSE_EXAMPLE,
    ISSUE_RESPONSE_EXAMPLE,
    REDEEM_REQUEST_EXAMPLE,
    REDEEM_RESPONSE_EXAMPLE,
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
