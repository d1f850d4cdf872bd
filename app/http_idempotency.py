"""Idempotency-Key for both faces (DESIGN §8.3): one pure ASGI middleware, in front of the GraphQL
and REST routes, over the use cases of services/idempotency.py.

Each face says which of its requests the header applies to, what identifies such a request (its
fingerprint's parts) and how a refusal looks in its error shape (graphql/idempotency.py,
rest/idempotency.py); everything else happens here, once:

1. No header, or a request the header does not apply to (a GraphQL query, a GET, another route):
   passed through untouched.
2. The caller is authenticated (keys belong to an API client); bad credentials pass through, and
   the route answers its 401.
3. The key is checked (400), the key claimed (a replay answers the stored status and body, with
   `Idempotent-Replayed: true`; 409 while the first runs; 422 for another request under the key).
4. The route runs; its answer is held back until it is stored (a final answer) or the key is
   freed (a retryable one), and only then sent: a client that retries the moment it is answered
   finds its answer stored, never a 409.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any, Protocol

from starlette.requests import ClientDisconnect
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.auth.authenticator import AuthenticationFailed, Authenticator
from app.domain import idempotency as rules
from app.domain.clock import now_ms
from app.domain.errors import ResourceLocked
from app.domain.idempotency import IdempotencyRefusal, StoredResponse
from app.domain.ports import UnitOfWorkFactory
from app.services import idempotency
from app.settings import Settings

logger = logging.getLogger("app.http")

_KEY_HEADER = rules.KEY_HEADER.lower().encode()


class IdempotentFace(Protocol):
    """What a face tells the middleware."""

    def handles(self, method: str, path: str) -> bool:
        """Whether the header may apply to requests to this method and path."""
        ...

    def request_parts(self, scope: Scope, body: bytes) -> Any | None:
        """What identifies this request (JSON-able; it is fingerprinted canonically), or None
        when the header does not apply to it (a GraphQL query, a body that is no request)."""
        ...

    def refusal(self, error: IdempotencyRefusal) -> Response:
        """400 / 409 / 422 in the face's error shape, with `error.code` in it."""
        ...

    def locked(self, error: ResourceLocked) -> Response:
        """The database did not decide the claim in time: a retryable 503."""
        ...


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return bytes(value)
    return None


async def _read_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect()
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


def _replaying(body: bytes, receive: Receive) -> Receive:
    """The body once more for the route, then the real channel (for its disconnect)."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


class IdempotencyMiddleware:
    def __init__(self, app: ASGIApp, *, faces: Sequence[IdempotentFace]) -> None:
        self.app = app
        self.faces = tuple(faces)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        raw_key = _header(scope, _KEY_HEADER)
        face = (
            next((f for f in self.faces if f.handles(scope["method"], scope["path"])), None)
            if raw_key is not None
            else None
        )
        if raw_key is None or face is None:
            await self.app(scope, receive, send)
            return
        body = await _read_body(receive)
        receive = _replaying(body, receive)
        parts = face.request_parts(scope, body)
        if parts is None:
            await self.app(scope, receive, send)
            return
        state = scope["app"].state
        authenticator: Authenticator = state.authenticator
        authorization = _header(scope, b"authorization")
        try:
            # With the address, so the sign-in throttle applies: unthrottled, a right guess here
            # would be cached and let in by the route. A failure here and the route's own check
            # count twice; a success is cached, so the route does not check again.
            client = scope.get("client")
            principal = await authenticator.authenticate(
                authorization.decode("latin-1") if authorization is not None else None,
                client[0] if client else None,
            )
        except (AuthenticationFailed, ResourceLocked):
            await self.app(scope, receive, send)  # the route's own 401
            return
        settings: Settings = state.settings
        uow_factory: UnitOfWorkFactory = state.uow_factory
        try:
            key = rules.check_key(raw_key)
            outcome = await idempotency.claim_key(
                uow_factory,
                principal,
                key,
                rules.fingerprint(parts),
                now=now_ms(),
                ttl_ms=settings.idempotency_ttl_seconds * 1000,
                claim_ms=settings.idempotency_claim_seconds * 1000,
            )
        except IdempotencyRefusal as error:
            await face.refusal(error)(scope, receive, send)
            return
        except ResourceLocked as error:
            await face.locked(error)(scope, receive, send)
            return
        if isinstance(outcome, StoredResponse):
            await _replay(outcome)(scope, receive, send)
            return
        await self._run_claimed(outcome, uow_factory, scope, receive, send)

    async def _run_claimed(
        self,
        claimed: idempotency.Claimed,
        uow_factory: UnitOfWorkFactory,
        scope: Scope,
        receive: Receive,
        send: Send,
    ) -> None:
        held: list[Message] = []

        async def hold(message: Message) -> None:
            held.append(message)

        with idempotency.watching_outcome() as outcome:
            try:
                await self.app(scope, receive, hold)
            except BaseException:
                # Nothing was answered: free the key so that a retry executes. Shielded, as a
                # cancelled request must still let go; a failure here leaves the claim to lapse.
                await _shielded_release(uow_factory, claimed)
                raise
        start = next((m for m in held if m["type"] == "http.response.start"), None)
        if start is None:  # pragma: no cover - every route answers or raises
            await _shielded_release(uow_factory, claimed)
            return
        status = int(start["status"])
        if rules.is_final(status, retryable=outcome.retryable):
            response = StoredResponse(
                status=status,
                content_type=_content_type(start),
                body=b"".join(m.get("body", b"") for m in held if m["type"] == "http.response.body"),
            )
            try:
                await asyncio.shield(idempotency.complete(uow_factory, claimed, response))
            except Exception:
                # The request ran: its answer goes out regardless. The claim stays until it lapses,
                # so a repeat within the claim window is a 409, never a second execution.
                logger.exception("could not store the answer of an idempotent request")
        else:
            await _shielded_release(uow_factory, claimed)
        for message in held:
            await send(message)


def _content_type(start: Message) -> str:
    for key, value in start.get("headers", ()):
        if key.lower() == b"content-type":
            return bytes(value).decode("latin-1")
    return "application/json"


def _replay(stored: StoredResponse) -> Response:
    return Response(
        content=stored.body,
        status_code=stored.status,
        headers={rules.REPLAYED_HEADER: "true", "content-type": stored.content_type},
    )


async def _shielded_release(uow_factory: UnitOfWorkFactory, claimed: idempotency.Claimed) -> None:
    try:
        await asyncio.shield(idempotency.release(uow_factory, claimed))
    except Exception:
        logger.exception("could not free an Idempotency-Key; it lapses after the claim window")
