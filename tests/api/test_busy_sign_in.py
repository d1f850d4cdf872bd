"""200 concurrent wrong guesses once answered HTTP 500 on PostgreSQL: the sign-in throttle's count
waited for a pooled connection past the pool timeout (`QueuePool limit ... reached`). A counter
store too busy to answer is now a retryable 503 with Retry-After on every face, never a 500."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from app.domain.errors import ResourceLocked
from tests.support import ClientCredentials, basic_auth


@pytest.fixture
def busy_counter(app: FastAPI, monkeypatch: pytest.MonkeyPatch) -> None:
    async def busy(*_args: Any, **_kwargs: Any) -> list[int]:
        raise ResourceLocked("the server is busy; retry shortly", retry_after_ms=1000)

    throttle = app.state.authenticator._throttle
    monkeypatch.setattr(throttle._counter, "hit_all", busy)


async def test_a_busy_counter_store_makes_sign_ins_a_retryable_503_on_every_face(
    http: httpx.AsyncClient, org_clients: dict[str, ClientCredentials], busy_counter: None
) -> None:
    guess = basic_auth(org_clients["writer"].username, "guess")
    answers = [
        await http.post("/graphql", json={"query": "{ __typename }"}, headers=guess),
        await http.get("/api_gateway/v1/promotions/customer/5", headers=guess),
        await http.post("/oauth/token", data={"grant_type": "client_credentials"}, headers=guess),
    ]
    for response in answers:
        assert response.status_code == 503, response.text
        assert response.headers["Retry-After"] == "1"
    # /graphql answers in GraphQL's error shape: a client reads extensions.code and retries
    (refusal,) = answers[0].json()["errors"]
    assert refusal["extensions"]["code"] == "RESOURCE_LOCKED" and refusal["extensions"]["retryable"] is True
