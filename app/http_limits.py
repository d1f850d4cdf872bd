"""HTTP-level protection for the app: the request-body limit and quiet client disconnects.

The body limit itself is FastAPI's (`FastAPI(max_body_size=...)`, Starlette's
`RequestBodyLimitMiddleware` underneath): it refuses a too-large `Content-Length` at once and
counts the bytes of a streamed (chunked) body as they arrive, answering HTTP 413 either way.
uvicorn has no limit of its own, and Strawberry's token limit ignores whitespace, so this is the
only bound on what one request can make the server buffer."""

from __future__ import annotations

import logging

from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Receive, Scope, Send

logger = logging.getLogger("app.http")


def _only_disconnects(error: BaseException) -> bool:
    if isinstance(error, ClientDisconnect):
        return True
    if isinstance(error, BaseExceptionGroup):
        return all(_only_disconnects(inner) for inner in error.exceptions)
    return False


class QuietClientDisconnect:
    """A client that goes away mid-request makes Starlette raise `ClientDisconnect` while the body
    is read; uncaught, the server logs "Exception in ASGI application" with a full traceback.
    There is nobody left to answer, so log one line and end the request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        try:
            await self.app(scope, receive, send)
        except BaseException as error:
            if not _only_disconnects(error):
                raise
            logger.info("client disconnected during %s %s", scope.get("method"), scope.get("path"))
