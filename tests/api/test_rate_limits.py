"""Rate limits per API client (DESIGN §8.7) and the sign-in throttle (issue #22.5), over HTTP on
both faces, with small limits so a test can spend them."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

import app.auth.authenticator as authenticator_module
import app.auth.throttle as throttle_module
import app.http_rate_limit as rate_limit_module
from app.domain.clock import now_ms
from app.observability.metrics import AUTH_FAILURES
from app.settings import Settings
from tests.support import ClientCredentials, basic_auth

LIMIT = 4
MAX_FAILURES = 3
MAX_FAILURES_PER_ADDRESS = 6
WINDOW_SECONDS = 300
REST_WALLET = "/api_gateway/v1/promotions/customer/5"
TYPENAME = {"query": "{ __typename }"}


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(  # type: ignore[call-arg]
        database_url=database_url,
        demo_mode=False,
        rate_limit_per_minute=LIMIT,
        auth_max_failures=MAX_FAILURES,
        auth_max_failures_per_address=MAX_FAILURES_PER_ADDRESS,
        auth_failure_window_seconds=WINDOW_SECONDS,
        _env_file=None,
    )


async def graphql(
    http: httpx.AsyncClient, who: ClientCredentials | dict[str, str], **body: Any
) -> httpx.Response:
    headers = who.headers if isinstance(who, ClientCredentials) else who
    return await http.post("/graphql", json=body or TYPENAME, headers=headers)


async def test_past_the_limit_both_faces_answer_429_with_retry_after_and_ratelimit_headers(
    http: httpx.AsyncClient, org_clients: dict[str, ClientCredentials]
) -> None:
    reader = org_clients["reader"]
    # when the client spends its budget over both faces, one count for both
    spent = [
        await graphql(http, reader),
        await http.get(REST_WALLET, headers=reader.headers),
        await graphql(http, reader),
        await http.get(REST_WALLET, headers=reader.headers),
    ]
    over_graphql = await graphql(http, reader)
    over_rest = await http.get(REST_WALLET, headers=reader.headers)
    # then each allowed answer says what is left, and the next ones are refused on either face
    assert [r.status_code for r in spent] == [200] * LIMIT
    assert [r.headers["RateLimit-Remaining"] for r in spent] == ["3", "2", "1", "0"]
    assert all(r.headers["RateLimit-Limit"] == str(LIMIT) for r in spent)
    for refused in (over_graphql, over_rest):
        assert refused.status_code == 429, refused.text
        assert refused.headers["RateLimit-Remaining"] == "0"
        assert 1 <= int(refused.headers["Retry-After"]) <= 60
        assert refused.headers["RateLimit-Reset"] == refused.headers["Retry-After"]
    assert over_graphql.json()["errors"][0]["extensions"]["code"] == "RATE_LIMITED"
    assert over_rest.json()["errors"][0]["code"] == 429


async def test_a_rest_request_with_an_invalid_parameter_is_counted_once_and_answered_400(
    http: httpx.AsyncClient, org_clients: dict[str, ClientCredentials]
) -> None:
    reader = org_clients["reader"]
    # when the REST face hands requests it does not read itself to FastAPI's validation
    answers = [
        await http.get("/v1/promotions/customer/not-a-number", headers=reader.headers),
        await http.get(REST_WALLET, params={"limit": "0"}, headers=reader.headers),
        await http.get(REST_WALLET, params={"status": "NOT_A_STATUS"}, headers=reader.headers),
    ]
    # then each is refused in the REST error shape, and each spent one request of the budget
    assert [r.status_code for r in answers] == [400, 400, 400]
    assert [r.headers["RateLimit-Remaining"] for r in answers] == ["3", "2", "1"]
    assert all(r.json()["errors"][0]["code"] == 400 for r in answers)
    assert "customerId" in answers[0].json()["errors"][0]["message"]


async def test_a_refused_request_executes_nothing_and_other_clients_keep_their_own_budget(
    http: httpx.AsyncClient, org_clients: dict[str, ClientCredentials]
) -> None:
    admin, reader = org_clients["admin"], org_clients["reader"]
    for _ in range(LIMIT):
        assert (await graphql(http, admin)).status_code == 200
    # when the admin, past its limit, creates a customer
    refused = await graphql(
        http, admin, query='mutation { createCustomer(input: {id: 991}) { __typename } }'
    )
    # then nothing was created, as another client of the org (with budget of its own) sees
    assert refused.status_code == 429
    seen = await graphql(http, reader, query="{ customer(id: 991) { id } }")
    assert seen.status_code == 200 and seen.json()["data"]["customer"] is None


async def test_the_budget_comes_back_with_the_next_minute(
    http: httpx.AsyncClient, org_clients: dict[str, ClientCredentials], monkeypatch: pytest.MonkeyPatch
) -> None:
    reader = org_clients["reader"]
    for _ in range(LIMIT):
        await graphql(http, reader)
    assert (await graphql(http, reader)).status_code == 429
    later = now_ms() + 60_000
    monkeypatch.setattr(rate_limit_module, "now_ms", lambda: later)
    again = await graphql(http, reader)
    assert again.status_code == 200 and again.headers["RateLimit-Remaining"] == str(LIMIT - 1)


# ---------------------------------------------------------------------------------------------
# The sign-in throttle


def _failures(reason: str) -> float:
    return AUTH_FAILURES.labels(reason)._value.get()  # type: ignore[attr-defined,no-any-return]


async def test_wrong_secrets_for_a_username_are_throttled_with_429_even_for_the_right_secret(
    http: httpx.AsyncClient, org_clients: dict[str, ClientCredentials]
) -> None:
    writer = org_clients["writer"]
    invalid_before = _failures("invalid")
    wrong = basic_auth(writer.username, "guess")
    # when MAX_FAILURES wrong secrets are tried, over both faces
    tries = [
        await graphql(http, wrong),
        await http.get(REST_WALLET, headers=wrong),
        await graphql(http, wrong),
    ]
    next_guess = await http.get(REST_WALLET, headers=wrong)
    right_secret = await graphql(http, writer)
    # then those were 401s, and now the username is throttled on either face until the window ends
    assert [r.status_code for r in tries] == [401] * MAX_FAILURES
    assert next_guess.status_code == right_secret.status_code == 429
    assert 1 <= int(right_secret.headers["Retry-After"]) <= WINDOW_SECONDS
    # in GraphQL's error shape on /graphql, as its 401 is
    (refusal,) = right_secret.json()["errors"]
    assert refusal["extensions"]["code"] == "TOO_MANY_FAILED_SIGN_INS", refusal
    assert refusal["extensions"]["retryAfterSeconds"] == int(right_secret.headers["Retry-After"])
    assert _failures("invalid") - invalid_before == MAX_FAILURES
    # and another username is not
    assert (await graphql(http, org_clients["reader"])).status_code == 200


async def test_the_owner_gets_in_again_once_the_window_has_passed(
    http: httpx.AsyncClient, org_clients: dict[str, ClientCredentials], monkeypatch: pytest.MonkeyPatch
) -> None:
    writer = org_clients["writer"]
    for _ in range(MAX_FAILURES):
        await graphql(http, basic_auth(writer.username, "guess"))
    assert (await graphql(http, writer)).status_code == 429
    later = now_ms() + WINDOW_SECONDS * 1000
    monkeypatch.setattr(throttle_module, "now_ms", lambda: later)
    assert (await graphql(http, writer)).status_code == 200


async def test_an_owner_already_signed_in_is_not_locked_out_by_someone_guessing(
    http: httpx.AsyncClient, org_clients: dict[str, ClientCredentials]
) -> None:
    writer = org_clients["writer"]
    assert (await graphql(http, writer)).status_code == 200  # verified, so remembered
    for _ in range(MAX_FAILURES + 2):
        await graphql(http, basic_auth(writer.username, "guess"))
    assert (await graphql(http, writer)).status_code == 200


async def test_one_address_spraying_many_usernames_is_throttled(
    http: httpx.AsyncClient, org_clients: dict[str, ClientCredentials]
) -> None:
    answers = [
        (await graphql(http, basic_auth(f"nobody-{i}", "guess"))).status_code
        for i in range(MAX_FAILURES_PER_ADDRESS + 1)
    ]
    assert answers == [401] * MAX_FAILURES_PER_ADDRESS + [429]


async def test_an_unknown_username_costs_the_same_secret_check_as_a_known_one(
    http: httpx.AsyncClient, org_clients: dict[str, ClientCredentials], monkeypatch: pytest.MonkeyPatch
) -> None:
    checked: list[str] = []
    verify = authenticator_module.verify_secret

    def recording(secret: str, stored: str) -> bool:
        checked.append(stored.split("$", 1)[0])
        return verify(secret, stored)

    monkeypatch.setattr(authenticator_module, "verify_secret", recording)
    known = await graphql(http, basic_auth(org_clients["writer"].username, "guess"))
    unknown = await graphql(http, basic_auth("no-such-client", "guess"))
    assert known.status_code == unknown.status_code == 401
    assert checked == ["scrypt", "scrypt"]


async def test_concurrent_guesses_cannot_all_slip_past_the_throttle(
    http: httpx.AsyncClient, org_clients: dict[str, ClientCredentials]
) -> None:
    username = org_clients["writer"].username
    answers = await asyncio.gather(
        *(graphql(http, basic_auth(username, f"guess-{i}")) for i in range(MAX_FAILURES * 4))
    )
    statuses = sorted(r.status_code for r in answers)
    assert statuses == [401] * MAX_FAILURES + [429] * (MAX_FAILURES * 3)


async def test_a_clients_own_burst_at_a_cold_start_is_one_sign_in_not_many_attempts(
    http: httpx.AsyncClient, org_clients: dict[str, ClientCredentials]
) -> None:
    writer = org_clients["writer"]
    burst = MAX_FAILURES + 1  # more than the throttle's attempts, within the rate limit
    assert burst <= LIMIT
    answers = await asyncio.gather(*(graphql(http, writer) for _ in range(burst)))
    assert [r.status_code for r in answers] == [200] * burst


async def test_guesses_sent_with_an_idempotency_key_are_throttled_too(
    http: httpx.AsyncClient, org_clients: dict[str, ClientCredentials]
) -> None:
    # The Idempotency-Key middleware signs in before the route; unthrottled there, a right guess
    # would be cached and let in by the route.
    writer = org_clients["writer"]
    mutation = {"query": 'mutation { createCustomer(input: {id: 992}) { __typename } }'}

    async def keyed(headers: dict[str, str], key: str) -> httpx.Response:
        return await http.post("/graphql", json=mutation, headers=headers | {"Idempotency-Key": key})

    for i in range(MAX_FAILURES):
        await keyed(basic_auth(writer.username, f"guess-{i}"), f"k-{i}")
    right = await keyed(writer.headers, "k-right")
    assert right.status_code == 429, right.text
