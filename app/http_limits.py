"""HTTP-level protection for the app: the request-body limit and quiet client disconnects.

The body limit itself is FastAPI's (`FastAPI(max_body_size=...)`, Starlette's
`RequestBodyLimitMiddleware` underneath): it refuses a too-large `Content-Length` at once and
counts the bytes of a streamed (chunked) body as they arrive, answering HTTP 413 either way.
uvicorn has no limit of its own, and Strawberry's token limit ignores whitespace, so this is the
only bound on what one request can make the server buffer."""

from __future__ import annotations

import json
import logging
from typing import Any

from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Receive, Scope, Send

from app.domain.text import is_utf8_url_part

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


# ---------------------------------------------------------------------------------------------
# Request bodies: malformed, over-nested or unstorable JSON is the client's error, never a 500.

# Far deeper than any document of this API (a redemption body is four levels deep), far below
# where Python's recursion limit would turn a walk of the value into a RecursionError.
MAX_JSON_DEPTH = 32


class MalformedBody(Exception):
    """A body that is not UTF-8 JSON, or nests deeper than MAX_JSON_DEPTH: HTTP 400."""


def url_is_utf8(scope: Scope) -> bool:
    """Whether the request's path and query string are UTF-8 once percent-decoded (text.py)."""
    raw_path = scope.get("raw_path")
    return is_utf8_url_part(scope.get("query_string", b"")) and (
        raw_path is None or is_utf8_url_part(raw_path)
    )


def json_depth_exceeds(value: Any, limit: int) -> bool:
    """Whether `value` nests more than `limit` arrays/objects deep; iterative, so any depth is safe.
    One level at a time, each in one comprehension: a body of 100,000 rows is one level of
    100,000 objects, where a stack of (node, depth) pairs cost a tuple and a generator per node."""
    level = [value] if isinstance(value, (dict, list)) else []
    depth = 1
    while level:
        if depth > limit:
            return True
        level = [
            child
            for node in level
            for child in (node.values() if isinstance(node, dict) else node)
            if isinstance(child, (dict, list))
        ]
        depth += 1
    return False


def decode_json_body(raw: bytes | str, *, parse_float: Any = None, parse_constant: Any = None) -> Any:
    """The body as JSON, or MalformedBody: invalid UTF-8, bad syntax, nesting beyond what the C
    decoder's recursion guard or MAX_JSON_DEPTH allows. `json.loads` raises RecursionError (not a
    ValueError) for `[` x 100,000, which would otherwise reach the server's catch-all."""
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
        value = json.loads(text, parse_float=parse_float, parse_constant=parse_constant)
    except UnicodeDecodeError as exc:
        raise MalformedBody(f"the request body is not valid UTF-8 (byte {exc.start})") from None
    except RecursionError:
        raise MalformedBody(f"the request body nests deeper than {MAX_JSON_DEPTH} levels") from None
    except ValueError as exc:
        raise MalformedBody(f"the request body is not valid JSON: {str(exc)[:200]}") from None
    if json_depth_exceeds(value, MAX_JSON_DEPTH):
        raise MalformedBody(f"the request body nests deeper than {MAX_JSON_DEPTH} levels")
    return value
