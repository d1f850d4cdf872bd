"""Sign-ins over WebSocket (the upgrade request's header, or connection_init) count for the sign-in
throttle like any other: otherwise a subscription connection would be a way to guess secrets
without limit. Against a real server (the cluster), with the default throttle."""

from __future__ import annotations

import httpx

from app.settings import Settings
from tests.reliability.harness import Org
from tests.subscriptions import refusal_of
from tests.support import basic_auth

MAX_FAILURES = Settings(_env_file=None).auth_max_failures  # type: ignore[call-arg]


async def test_guesses_over_websocket_are_counted_and_then_http_guesses_are_throttled(org: Org) -> None:
    base_url = org.base_urls[0]
    username = f"admin-{org.org_id}"
    # when the username's failures are spent over WebSocket, half on the upgrade, half in connection_init
    for i in range(MAX_FAILURES):
        guess = basic_auth(username, f"guess-{i}")
        if i % 2:
            refused = await refusal_of(base_url, headers=guess)
        else:
            refused = await refusal_of(base_url, init_payload={"Authorization": guess["Authorization"]})
        assert refused[0] == 4403
    # then the next guess over HTTP is throttled
    async with httpx.AsyncClient(base_url=base_url) as http:
        response = await http.post(
            "/graphql", json={"query": "{ __typename }"}, headers=basic_auth(username, "one more")
        )
    assert response.status_code == 429, response.text
