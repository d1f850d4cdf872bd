"""Shapes top-level errors: a domain error (a bad cursor, `first` over 100) keeps its message and
gets its code; anything unexpected is logged with the request id and masked. Validation and limit
errors stay readable, minus any "Did you mean ...?" hint (those would leak the schema)."""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Any

from graphql import DocumentNode, GraphQLError, GraphQLSyntaxError, StringValueNode, Visitor, visit
from strawberry.extensions import SchemaExtension

from app.domain.errors import DomainError
from app.domain.paging import InvalidPage, PageArgument
from app.domain.text import (
    UNSTORABLE_TEXT_MESSAGE,
    has_unstorable_text,
    is_storable,
    json_may_spell_unstorable_text,
)
from app.services.idempotency import note_retryable_outcome

logger = logging.getLogger("app.graphql")

INTERNAL_MESSAGE = "Internal server error; it has been logged. Retry shortly."

# graphql-core appends these to unknown field/argument/type/enum messages, also at execution time
# (variable coercion), where validation's `hide_suggestions` does not reach.
_SUGGESTION = re.compile(r"\s*Did you mean [^?]*\?")
_CLIENT_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")


def request_id_for(request: Any) -> str:
    """The request's id: the one a middleware put on `request.state.request_id`, else a sane
    `X-Request-ID` header, else a new one; remembered on `request.state` so every log agrees."""
    state = getattr(request, "state", None)
    request_id = getattr(state, "request_id", None) if state is not None else None
    if request_id:
        return str(request_id)
    header = request.headers.get("x-request-id", "") if request is not None else ""
    request_id = header if _CLIENT_REQUEST_ID.match(header) else uuid.uuid4().hex
    if state is not None:
        state.request_id = request_id
    return request_id


def without_suggestions(message: str) -> str:
    return _SUGGESTION.sub("", message)


# How GraphQL calls the paging arguments (domain/paging.py names none).
PAGE_ARGUMENTS = {PageArgument.SIZE: "first", PageArgument.CURSOR: "after"}


# `extensions.code` of the top-level errors that are the client's and carry none of their own, by
# the phase that found them (Apollo Server's names, which GraphQL clients already switch on); an
# error without a path found at execution is a variable value that could not be coerced.
PARSE_FAILED = "GRAPHQL_PARSE_FAILED"
VALIDATION_FAILED = "GRAPHQL_VALIDATION_FAILED"
BAD_USER_INPUT = "BAD_USER_INPUT"


class ErrorShaping(SchemaExtension):
    def __init__(self, *, execution_context: Any = None) -> None:
        super().__init__(execution_context=execution_context)
        self._phase_codes: dict[int, str] = {}

    def on_parse(self) -> Iterator[None]:
        yield
        for error in self.execution_context.pre_execution_errors or ():
            self._phase_codes.setdefault(id(error), PARSE_FAILED)

    def on_validate(self) -> Iterator[None]:
        yield
        for error in self.execution_context.pre_execution_errors or ():
            self._phase_codes.setdefault(id(error), VALIDATION_FAILED)

    def on_operation(self) -> Iterator[None]:
        yield
        result = self.execution_context.result
        errors = getattr(result, "errors", None)
        if result is None or not errors:
            return
        # Parse and validation errors are the client's, even when they carry the exception a
        # scalar's parse_literal raised (an inline Long out of range, a Decimal "NaN"). They have
        # no path; an error raised while resolving always has one. (Membership in
        # pre_execution_errors is no test: that list can end up holding execution errors too.)
        result.errors = [self._coded(self._shape(error, error.path is None), id(error)) for error in errors]

    def _coded(self, error: GraphQLError, original_id: int) -> GraphQLError:
        """Every top-level error of the client's carries `extensions.code`. A copy, not an edit:
        validation errors come out of a cache shared by every request with the same document."""
        if error.path is not None or (error.extensions and "code" in error.extensions):
            return error
        code = self._phase_codes.get(original_id) or (
            PARSE_FAILED if isinstance(error, GraphQLSyntaxError) else BAD_USER_INPUT
        )
        return GraphQLError(
            error.message,
            nodes=error.nodes,
            source=error.source,
            positions=error.positions,
            original_error=error.original_error,
            extensions={**(error.extensions or {}), "code": code},
        )

    def _shape(self, error: GraphQLError, client_error: bool = False) -> GraphQLError:
        original = error.original_error
        if original is None or isinstance(original, GraphQLError):
            if "Did you mean" in error.message:
                error.message = without_suggestions(error.message)
            return error
        if isinstance(original, DomainError):
            if original.retryable:
                note_retryable_outcome()
            if isinstance(original, InvalidPage):
                original = original.named(PAGE_ARGUMENTS)
            extensions = {"code": "BAD_USER_INPUT", "errorCode": int(original.code)}
            field = getattr(original, "field", None)
            if field:
                extensions["field"] = field
            return GraphQLError(original.message, nodes=error.nodes, path=error.path, extensions=extensions)
        if client_error:
            error.message = without_suggestions(error.message)
            return error
        if error.extensions and error.extensions.get("code") == "FORBIDDEN":
            return error
        note_retryable_outcome()  # masked as INTERNAL_SERVER_ERROR: retry, and do not replay it
        request_id = self._request_id()
        logger.error(
            "unexpected error at %s (request %s): %s: %s",
            error.path,
            request_id,
            type(original).__name__,
            original,
            exc_info=original,
        )
        return GraphQLError(
            INTERNAL_MESSAGE,
            nodes=error.nodes,
            path=error.path,
            extensions={"code": "INTERNAL_SERVER_ERROR", "errorCode": 500, "requestId": request_id},
        )

    def _request_id(self) -> str:
        context = self.execution_context.context
        request_id = getattr(context, "request_id", None)
        return str(request_id) if request_id else request_id_for(getattr(context, "request", None))


def _document_has_unstorable_text(query: str | None, document: DocumentNode | None) -> bool:
    # GraphQL source can only carry such text in a string literal, and a NUL only as the escape
    # \u0000 (the lexer refuses unpaired surrogates): look at the parsed literals only when an
    # escape or such a character is in the text, so ordinary documents cost one substring search.
    if not query or document is None or ("\\u" not in query and is_storable(query)):
        return False
    found = False

    class _Finder(Visitor):
        def enter_string_value(self, node: StringValueNode, *_args: Any) -> None:
            nonlocal found
            found = found or not is_storable(node.value)

    visit(document, _Finder())
    return found


# The last request body of this context (this request's task) decoded from bytes without a `\u`
# escape: the variables objects decoded from it hold no unstorable text, so the guard need not walk
# them (100,000 rows of importCustomers). Held by reference and matched by identity: only those
# very dicts are vouched for, never an equal one, nor variables from a query string.
_ESCAPE_FREE_BODY: ContextVar[object] = ContextVar("escape_free_body", default=None)


def vouch_for_json_body(raw: bytes, decoded: object) -> None:
    """Called with each HTTP body as the view decodes it: `decoded` is `json.loads(raw)`."""
    _ESCAPE_FREE_BODY.set(None if json_may_spell_unstorable_text(raw) else decoded)


def _vouched_for(variables: object) -> bool:
    body = _ESCAPE_FREE_BODY.get()
    if body is None or variables is None:
        return False
    operations = body if isinstance(body, list) else [body]
    return any(isinstance(o, dict) and o.get("variables") is variables for o in operations)


class UnstorableTextGuard(SchemaExtension):
    """Refuses a document or variables carrying text no database can store (domain/text.py)
    before validation, as a client error: never a retryable server error, never stored."""

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        variables = context.variables
        if context.pre_execution_errors is None and (
            _document_has_unstorable_text(context.query, context.graphql_document)
            or (not _vouched_for(variables) and has_unstorable_text(variables))
        ):
            context.pre_execution_errors = [
                GraphQLError(
                    UNSTORABLE_TEXT_MESSAGE[0].upper() + UNSTORABLE_TEXT_MESSAGE[1:] + ".",
                    extensions={"code": "BAD_USER_INPUT", "errorCode": 400},
                )
            ]
        yield
