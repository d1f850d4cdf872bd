"""A graphql-transport-ws client for the tests (the protocol GraphiQL and Apollo clients speak):
connect to /graphql, authenticate, subscribe, and read what the server sends."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

PROTOCOL = "graphql-transport-ws"


class Subscription:
    def __init__(self, socket: ClientConnection) -> None:
        self.socket = socket
        self._ids = 0

    async def subscribe(self, query: str, variables: dict[str, Any] | None = None) -> str:
        self._ids += 1
        operation = str(self._ids)
        payload = {"query": query, "variables": variables or {}}
        await self.socket.send(json.dumps({"id": operation, "type": "subscribe", "payload": payload}))
        return operation

    async def receive(self, timeout_s: float) -> dict[str, Any]:
        """The next message other than a ping (answered), within `timeout_s`."""
        async with asyncio.timeout(timeout_s):
            while True:
                message = json.loads(await self.socket.recv())
                if message["type"] == "ping":
                    await self.socket.send(json.dumps({"type": "pong"}))
                    continue
                return message  # type: ignore[no-any-return]

    async def silent_for(self, seconds: float) -> bool:
        try:
            message = await self.receive(seconds)
        except TimeoutError:
            return True
        raise AssertionError(f"expected nothing, got {message}")


@asynccontextmanager
async def subscription_connection(
    base_url: str,
    *,
    headers: dict[str, str] | None = None,
    init_payload: dict[str, Any] | None = None,
) -> AsyncIterator[Subscription]:
    """Connected and acknowledged; `headers` go on the upgrade request, `init_payload` in
    connection_init. Fails the test if the server does not acknowledge."""
    url = base_url.replace("http://", "ws://", 1) + "/graphql"
    async with connect(url, subprotocols=[PROTOCOL], additional_headers=headers or {}) as socket:  # type: ignore[list-item]
        await socket.send(json.dumps({"type": "connection_init", "payload": init_payload or {}}))
        client = Subscription(socket)
        ack = await client.receive(10)
        assert ack["type"] == "connection_ack", ack
        yield client


async def refusal_of(
    base_url: str, *, headers: dict[str, str] | None = None, init_payload: dict[str, Any] | None = None
) -> tuple[int | None, str]:
    """How the server closes a connection it does not acknowledge: (close code, reason)."""
    from websockets.exceptions import ConnectionClosed

    url = base_url.replace("http://", "ws://", 1) + "/graphql"
    async with connect(url, subprotocols=[PROTOCOL], additional_headers=headers or {}) as socket:  # type: ignore[list-item]
        await socket.send(json.dumps({"type": "connection_init", "payload": init_payload or {}}))
        try:
            message = await asyncio.wait_for(socket.recv(), 10)
        except ConnectionClosed as closed:
            return (closed.rcvd.code if closed.rcvd else None, closed.rcvd.reason if closed.rcvd else "")
        raise AssertionError(f"expected the connection to be refused, got {message!r}")
