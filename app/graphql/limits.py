"""Document limits (depth, aliases, tokens, introspection) with cached parsing and validation.

One extension does all of it so the limits cannot defeat the caches: the validation rules for a
given set of settings are built once (`limit_rules` is memoised), so every request with the same
settings validates with the *same* rule tuple and the validation cache hits. Strawberry's own
`QueryDepthLimiter` / `MaxAliasesLimiter` passed as factories create a new rule class per request,
which turns every validation into a cache miss (measured about 20x slower on small queries).

Validation runs with graphql-core's `hide_suggestions=True`: no "Did you mean ...?" hints that
would let a client probe the schema with introspection turned off.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import suppress
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import strawberry
from graphql import ASTValidationRule, DocumentNode, GraphQLError, GraphQLSchema, parse, validate
from graphql.validation import NoSchemaIntrospectionCustomRule
from strawberry.extensions import SchemaExtension
from strawberry.extensions.max_aliases import create_validator as alias_validator
from strawberry.extensions.query_depth_limiter import create_validator as depth_validator
from strawberry.schema.validation_rules.maybe_null import MaybeNullValidationRule
from strawberry.schema.validation_rules.one_of import OneOfInputValidationRule

from app.domain.errors import DomainError
from app.graphql.execution import share_selections
from app.settings import Settings

if TYPE_CHECKING:
    from strawberry.types import ExecutionContext

logger = logging.getLogger("app.graphql")

T = TypeVar("T")

CACHE_SIZE = 256
# Only documents up to this many characters are cached: the token limit ignores whitespace and
# comments, so without this bound 256 distinct padded documents could pin ~1 GiB in the caches.
MAX_CACHED_QUERY_CHARS = 64 * 1024

# Strawberry adds these two to every validation (see strawberry.schema.schema.validate_document).
_STRAWBERRY_RULES: tuple[type[ASTValidationRule], ...] = (MaybeNullValidationRule, OneOfInputValidationRule)


def document_exceeds(query: str, max_bytes: int) -> bool:
    """Whether `query` is more than `max_bytes` of UTF-8. Checked before any parsing: the token
    limit counts no whitespace or comments, so only this bounds the lexer's time (it walks every
    character of a padded document)."""
    if len(query) > max_bytes:
        return True
    return len(query) * 4 > max_bytes and len(query.encode("utf-8", "surrogatepass")) > max_bytes


_JSON_ESCAPE_MAX = 6  # the longest JSON spelling of one character: \uXXXX
_WHITESPACE = b" \t\r\n"


def raw_query_certainly_exceeds(body: bytes, max_bytes: int) -> int | None:
    """Before the body is decoded: the raw length of its `"query"` string when that alone proves
    the document over `max_bytes` (over 6 x the limit: no JSON spelling is longer than 6 bytes a
    character), else None. A byte search, so a 16 MB padded document is refused without the tens
    of milliseconds of event-loop time `json.loads` would spend on it. Only the first `"query"`
    key is looked at: a false positive needs a variable named "query" 1.5 MB long."""
    limit = max_bytes * _JSON_ESCAPE_MAX
    if len(body) <= limit:
        return None
    key = body.find(b'"query"')
    if key < 0:
        return None
    at = key + len(b'"query"')
    while at < len(body) and body[at] in _WHITESPACE:
        at += 1
    if at >= len(body) or body[at] != ord(":"):
        return None
    at += 1
    while at < len(body) and body[at] in _WHITESPACE:
        at += 1
    if at >= len(body) or body[at] != ord('"'):
        return None
    start = end = at + 1
    while True:
        end = body.find(b'"', end)
        if end < 0:
            end = len(body)
            break
        backslashes = 0
        while body[end - 1 - backslashes] == ord("\\"):
            backslashes += 1
        if backslashes % 2 == 0:
            break
        end += 1
    return end - start if end - start > limit else None


class DocumentTooLarge(Exception):
    def __init__(self, size: int, max_bytes: int) -> None:
        super().__init__(
            f"The GraphQL document is {size} bytes; at most {max_bytes} are accepted "
            "(pass long lists as variables)"
        )
        self.size = size
        self.max_bytes = max_bytes


@dataclass(frozen=True)
class DocumentLimits:
    """The limits that apply to one request; hashable, so it keys the rule cache."""

    enabled: bool
    max_depth: int
    max_aliases: int
    max_tokens: int
    introspection: bool

    @classmethod
    def from_settings(cls, settings: Settings) -> DocumentLimits:
        return cls(
            enabled=settings.graphql_limits,
            max_depth=settings.max_query_depth,
            max_aliases=settings.max_aliases,
            max_tokens=settings.max_tokens,
            introspection=settings.introspection,
        )


DEFAULT_LIMITS = DocumentLimits.from_settings(Settings(_env_file=None))


@lru_cache(maxsize=32)
def limit_rules(limits: DocumentLimits) -> tuple[type[ASTValidationRule], ...]:
    """The extra validation rules for `limits`, built once per distinct set of limits."""
    rules: list[type[ASTValidationRule]] = []
    if limits.enabled:
        rules += [depth_validator(limits.max_depth, None, None), alias_validator(limits.max_aliases)]
    if not limits.introspection:
        rules.append(NoSchemaIntrospectionCustomRule)
    return tuple(rules)


@lru_cache(maxsize=CACHE_SIZE)
def _cached_parse(query: str, max_tokens: int | None) -> DocumentNode:
    document = parse(query, max_tokens=max_tokens)
    share_selections(document)  # its executions reuse what they collect and plan
    return document


def parse_document(query: str, max_tokens: int | None) -> DocumentNode:
    if len(query) > MAX_CACHED_QUERY_CHARS:
        return parse(query, max_tokens=max_tokens)
    return _cached_parse(query, max_tokens)


def _validate(
    schema: GraphQLSchema, document: DocumentNode, rules: tuple[type[ASTValidationRule], ...]
) -> list[GraphQLError]:
    return validate(schema, document, (*rules, *_STRAWBERRY_RULES), hide_suggestions=True)


class Unkeyed(Generic[T]):
    """A value passed through an `lru_cache` without being part of its key: every `Unkeyed` is
    equal to every other. The caches below are keyed by a document's text, not by its parse:
    hashing a DocumentNode walks the whole tree (its dataclass hash), on every request."""

    __slots__ = ("value",)

    def __init__(self, value: T) -> None:
        self.value = value

    def __hash__(self) -> int:
        return 0

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Unkeyed)


@lru_cache(maxsize=CACHE_SIZE)
def _cached_validate(
    schema: GraphQLSchema,
    query: str,
    rules: tuple[type[ASTValidationRule], ...],
    document: Unkeyed[DocumentNode],
) -> list[GraphQLError]:
    return _validate(schema, document.value, rules)


def validate_document(
    schema: GraphQLSchema,
    document: DocumentNode,
    rules: tuple[type[ASTValidationRule], ...],
    *,
    query: str | None,
) -> list[GraphQLError]:
    """`document` is the parse of `query` (equal texts parse alike, with the same token limit,
    which the rules' settings carry); a query over MAX_CACHED_QUERY_CHARS is not cached."""
    if query is None or len(query) > MAX_CACHED_QUERY_CHARS:
        return _validate(schema, document, rules)
    return _cached_validate(schema, query, rules, Unkeyed(document))


def limits_of(context: Any) -> DocumentLimits:
    settings = getattr(context, "settings", None)
    if not isinstance(settings, Settings):
        return DEFAULT_LIMITS
    return DocumentLimits.from_settings(settings)


class DocumentLimitsExtension(SchemaExtension):
    """Parse (cached) with the token limit, validate (cached) with the stable limit rules.

    Pass the class itself in `extensions=[...]`; the per-request instance holds no state of its own
    and everything expensive is memoised at module level."""

    def on_operation(self) -> Iterator[None]:
        context = self.execution_context
        limits = limits_of(context.context)
        if limits.enabled:
            context.parse_options["max_tokens"] = limits.max_tokens
        extra = limit_rules(limits)
        if extra:
            context.validation_rules = (*context.validation_rules, *extra)
        yield

    def on_parse(self) -> Iterator[None]:
        context = self.execution_context
        if context.graphql_document is None and context.query:
            # On a syntax or token-limit error Strawberry parses again (same options) and reports it.
            with suppress(GraphQLError):
                context.graphql_document = parse_document(
                    context.query, context.parse_options.get("max_tokens")
                )
        yield

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        document = context.graphql_document
        if document is not None and context.pre_execution_errors is None:
            context.pre_execution_errors = validate_document(
                context.schema._schema, document, context.validation_rules, query=context.query
            )
        yield


class HardenedSchema(strawberry.Schema):
    """A Strawberry schema whose error log is not an amplifier.

    Strawberry logs every error of every response at ERROR level, with a traceback and an excerpt
    of the document: a client sending 2,000-token junk gets pages of log for free, and unexpected
    errors are logged twice. Client errors (syntax, validation, limits, bad variables, domain
    errors) are logged here at DEBUG in one line; unexpected ones are logged by `ErrorShaping`
    with the request id."""

    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        shaped_later = execution_context is not None and execution_context.result is not None
        pre_execution = execution_context.pre_execution_errors if execution_context is not None else None
        client_errors = {id(error) for error in pre_execution or ()}
        for error in errors:
            original = error.original_error
            if (
                original is None
                or isinstance(original, (GraphQLError, DomainError))
                or shaped_later
                or (id(error) in client_errors and error.path is None)  # validation, e.g. a bad literal
            ):
                logger.debug("graphql error: %s", error.message)
            else:  # raised outside execution (an extension hook): ErrorShaping never sees it
                logger.error("unexpected error outside execution: %s", error.message, exc_info=original)
