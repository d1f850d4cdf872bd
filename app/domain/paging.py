"""Keyset paging: page-size bounds and opaque cursors (a base64 of the sort key of the last row
seen), checked once here for every list and every face.

The errors name no argument: each face calls its arguments differently (GraphQL `first`/`after`,
REST `limit`/`cursor`), so `InvalidPage.argument` says which one was wrong and the face renders it
under its own name."""

from __future__ import annotations

import base64
import json
from enum import StrEnum
from typing import Any

from app.domain.errors import InvalidRequest

MAX_PAGE_SIZE = 100


class PageArgument(StrEnum):
    SIZE = "size"
    CURSOR = "cursor"


class InvalidPage(InvalidRequest):
    """A page size out of range or a cursor this list did not return. `message` holds `{name}`
    where the face's argument name goes (see `named`)."""

    def __init__(self, argument: PageArgument, template: str) -> None:
        super().__init__(template.format(name=argument.value), field=argument.value)
        self.argument = argument
        self.template = template

    def named(self, names: dict[PageArgument, str]) -> InvalidRequest:
        name = names[self.argument]
        return InvalidRequest(self.template.format(name=name), field=name)


# One encoder for every cursor: json.dumps with any option builds a new encoder per call.
_COMPACT_JSON = json.JSONEncoder(separators=(",", ":"))


def encode_cursor(*key: Any) -> str:
    return base64.urlsafe_b64encode(_COMPACT_JSON.encode(list(key)).encode()).decode()


def decode_cursor(cursor: str, *types: type) -> tuple[Any, ...]:
    try:
        values = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        if not isinstance(values, list) or len(values) != len(types):
            raise ValueError("wrong arity")
        for value, kind in zip(values, types, strict=True):
            if not isinstance(value, kind) or isinstance(value, bool):
                raise ValueError("wrong type")
            # A hand-made cursor must not smuggle a value the database cannot bind.
            if isinstance(value, int) and not -(2**63) <= value < 2**63:
                raise ValueError("out of range")
            if isinstance(value, str) and (len(value) > 64 or "\x00" in value):
                raise ValueError("not a key")
        return tuple(values)
    except (ValueError, TypeError, UnicodeDecodeError) as exc:
        raise InvalidPage(PageArgument.CURSOR, "{name} is not a cursor returned by this list") from exc


def check_page_size(first: int, maximum: int = MAX_PAGE_SIZE) -> None:
    if first < 0 or first > maximum:
        raise InvalidPage(PageArgument.SIZE, f"{{name}} must be between 0 and {maximum}")
