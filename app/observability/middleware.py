"""Request ids, access logs and HTTP metrics, as one pure ASGI middleware (no buffering, so
streamed responses pass through untouched).

The id is the incoming `X-Request-ID` when it is 1 to 64 characters of `A-Za-z0-9._:-`,
otherwise a new uuid4 hex. It is put on `request.state.request_id`, on every log record of the
request (a context variable), and on the response as `X-Request-ID`.
"""

from __future__ import annotations

import logging
import random
import re
import time

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.observability import metrics
from app.observability.logging import ACCESS_LOGGER, request_id_var

REQUEST_ID_HEADER = "X-Request-ID"
_HEADER_KEY = b"x-request-id"
_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")

access_logger = logging.getLogger(ACCESS_LOGGER)


# A version-4 UUID's fixed bits (RFC 9562: version 4, variant 10).
_UUID4_CLEAR = ~((0xF000 << 64) | (0xC000 << 48))
_UUID4_SET = (0x4000 << 64) | (0x8000 << 48)


def new_request_id() -> str:
    """A random uuid4, as hex. From `random`, not the OS's entropy (`uuid.uuid4`, a system call
    and a UUID object per request): a request id names a request in the logs and is no secret.
    `random` reseeds itself in a forked worker, so workers do not repeat each other's ids."""
    return f"{random.getrandbits(128) & _UUID4_CLEAR | _UUID4_SET:032x}"


def request_id_from(headers: list[tuple[bytes, bytes]]) -> str:
    for key, value in headers:
        if key == _HEADER_KEY:
            candidate = value.decode("latin-1")
            if _SAFE_REQUEST_ID.match(candidate):
                return candidate
            break
    return new_request_id()


def route_label(scope: Scope, root_path: str = "") -> str:
    """The matched route's template ("/graphql", "/oauth/token", "/ide/static/{path}"), or
    "unmatched": raw paths would make a label per URL.

    A route without path parameters has exactly one path, so that path is its template (FastAPI
    keeps an included router's prefix outside `scope["route"]`). A mount extends `root_path`."""
    if scope.get("endpoint") is None:
        return "unmatched"
    route = scope.get("route")
    if route is None:
        mounted = scope.get("root_path", "")[len(root_path) :]
        return f"{mounted}/{{path}}" if mounted else "unmatched"
    if not scope.get("path_params"):
        return str(scope["path"])
    context = scope.get("fastapi", {}).get("effective_route_context")
    return str(getattr(context, "path_format", None) or getattr(route, "path_format", "unmatched"))


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = request_id_from(scope.get("headers", []))
        scope.setdefault("state", {})["request_id"] = request_id
        token = request_id_var.set(request_id)
        root_path = scope.get("root_path", "")
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableHeaders(scope=message)[REQUEST_ID_HEADER] = request_id
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            seconds = time.perf_counter() - started
            method = scope["method"]
            metrics.observe_http(method, route_label(scope, root_path), status, seconds)
            if access_logger.isEnabledFor(logging.INFO):  # else not even its fields are built
                client = scope.get("client")
                access_logger.info(
                    "%s %s %d",
                    method,
                    scope["path"],
                    status,
                    extra={
                        "method": method,
                        "path": scope["path"],
                        "status": status,
                        "duration_ms": round(seconds * 1000, 2),
                        "client": client[0] if client else None,
                        "request_id": request_id,
                    },
                )
            request_id_var.reset(token)
