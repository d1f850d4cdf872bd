"""Helpers of the REST API tests: the spec pages' fixed ids, rows inserted with those ids, a
client of the REST routes, and a key-by-key comparison with the pages' example responses."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import httpx

from app.domain.clock import now_ms
from app.domain.earning import new_earned_promotion
from app.domain.models import EarnedFromType, EventDetails, Promotion
from app.persistence.database import Database
from app.persistence.uow import SqlUnitOfWork
from tests.support import ClientCredentials, GraphQLClient

PREFIXES = ("/api_gateway/v1/promotions", "/v1/promotions")

OBJECT_ID = re.compile(r"^[0-9a-f]{24}$")
ISO_UTC = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
SIX_DECIMALS = re.compile(r"^-?\d+\.\d{6}$")

UPDATE_SETTINGS = """mutation($input: UpdateOrgSettingsInput!) { updateOrgSettings(input: $input) {
  __typename ... on Error { code message } } }"""


async def insert_earned(
    database: Database,
    promotion: Promotion,
    *,
    entry_id: str,
    customer_id: int,
    timezone: str = "Asia/Kolkata",
) -> None:
    """A wallet entry with a fixed id (the redeem page names one), earned now."""
    now = now_ms()
    entry = new_earned_promotion(
        entry_id=entry_id,
        promotion=promotion,
        customer_id=customer_id,
        earned_from_type=EarnedFromType.BULK_ISSUE,
        earned_from_id="spec-example",
        instance=1,
        event_time=now,
        event_details=EventDetails(id="spec-example", type="BULK_ISSUE"),
        timezone=timezone,
        now=now,
    )
    async with SqlUnitOfWork(database, write=True) as uow:
        inserted = await uow.earnings.insert_new([entry])
        await uow.commit()
    assert inserted == {entry_id}


async def update_settings(gql: GraphQLClient, **settings: Any) -> None:
    data = await gql.data(UPDATE_SETTINGS, {"input": settings})
    assert data["updateOrgSettings"]["__typename"] == "UpdateOrgSettingsSuccess", data


@dataclass
class RestClient:
    http: httpx.AsyncClient
    credentials: ClientCredentials | None
    prefix: str = PREFIXES[0]

    def _headers(self, headers: dict[str, str] | None) -> dict[str, str]:
        base = self.credentials.headers if self.credentials else {}
        return base | (headers or {})

    async def post(
        self,
        path: str,
        body: Any = None,
        *,
        content: bytes | None = None,
        headers: dict[str, str] | None = None,
        params: dict[str, Any] | None = None,
    ) -> httpx.Response:
        if content is not None:
            return await self.http.post(
                self.prefix + path,
                content=content,
                params=params,
                headers=self._headers({"Content-Type": "application/json"} | (headers or {})),
            )
        return await self.http.post(
            self.prefix + path, json=body, params=params, headers=self._headers(headers)
        )

    async def get(
        self, path: str, *, params: dict[str, Any] | None = None, headers: dict[str, str] | None = None
    ) -> httpx.Response:
        return await self.http.get(self.prefix + path, params=params, headers=self._headers(headers))

    def as_(self, credentials: ClientCredentials | None) -> RestClient:
        return RestClient(self.http, credentials, self.prefix)

    def under(self, prefix: str) -> RestClient:
        return RestClient(self.http, self.credentials, prefix)


def error_of(response: httpx.Response) -> tuple[int, int, str]:
    """(HTTP status, code, message) of an error response, checking its shape on the way."""
    body = response.json()
    assert set(body) == {"errors"}, body
    assert len(body["errors"]) == 1 and set(body["errors"][0]) == {"code", "message"}, body
    error = body["errors"][0]
    assert isinstance(error["code"], int) and isinstance(error["message"], str) and error["message"]
    return response.status_code, error["code"], error["message"]


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        for name, pattern in (
            ("object id", OBJECT_ID),
            ("ISO instant", ISO_UTC),
            ("6 decimals", SIX_DECIMALS),
        ):
            if pattern.match(value):
                return name
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def assert_same_shape(actual: Any, expected: Any, path: str = "$") -> None:
    """Same keys at every level, same JSON types, and strings in the same format (24-hex ids,
    ISO instants with Z, 6-decimal amounts) as the example."""
    kind = _kind(expected)
    if kind == "string":  # free text in the example: any string
        assert isinstance(actual, str), f"{path}: {actual!r} is not a string"
    else:
        assert _kind(actual) == kind, f"{path}: {actual!r} is not like {expected!r} ({kind})"
    if isinstance(expected, dict):
        assert set(actual) == set(expected), f"{path}: keys {sorted(actual)} != {sorted(expected)}"
        for key in expected:
            assert_same_shape(actual[key], expected[key], f"{path}.{key}")
    elif isinstance(expected, list):
        assert len(actual) == len(expected), f"{path}: {len(actual)} items, expected {len(expected)}"
        for index, (a, e) in enumerate(zip(actual, expected, strict=True)):
            assert_same_shape(a, e, f"{path}[{index}]")


def without_ids(value: Any) -> Any:
    """The value with the id of every wallet entry (a dict with a customerId) blanked: they are
    generated. The ids inside eventDetails and the promotion ids stay."""
    if isinstance(value, dict):
        entry = "customerId" in value and "promotionId" in value
        return {k: ("<id>" if entry and k == "id" else without_ids(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [without_ids(v) for v in value]
    return value
