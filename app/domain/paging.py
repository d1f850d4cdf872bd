"""Keyset paging: page-size bounds and opaque cursors (a base64 of the sort key of the last row
seen), checked once here for every list and every face.

The errors name no argument: each face calls its arguments differently (GraphQL `first`/`after`,
REST `limit`/`cursor`), so `InvalidPage.argument` says which one was wrong and the face renders it
under its own name."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Iterator, Sequence
from enum import StrEnum
from typing import Any, Generic, TypeVar, overload

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
_URLSAFE = bytes.maketrans(b"+/", b"-_")


def encode_cursor(*key: Any) -> str:
    """The key as compact JSON, in URL-safe base64. Ints and ASCII strings that JSON writes as
    they are (the keys of every list: instants, ids) are written here; json writes the rest."""
    text = "["
    for value in key:
        kind = type(value)
        if kind is int:
            text += f"{value},"
        elif (
            kind is str and value.isascii() and value.isprintable() and '"' not in value and "\\" not in value
        ):
            text += f'"{value}",'
        else:
            text = ""
            break
    data = f"{text[:-1]}]".encode() if len(text) > 1 else _COMPACT_JSON.encode(list(key)).encode()
    return binascii.b2a_base64(data, newline=False).translate(_URLSAFE).decode()


T = TypeVar("T")


class LazyCursors(Sequence[str], Generic[T]):
    """The cursors of a page's items, each encoded when it is first read: a face that needs only
    the last one (REST's nextCursor, GraphQL's endCursor without edge cursors) does not encode the
    others. Equal to any sequence of the same cursors."""

    __slots__ = ("_encoded", "_items", "_key")

    def __init__(self, items: Sequence[T], key: Callable[[T], tuple[Any, ...]]) -> None:
        self._items = items
        self._key = key
        self._encoded: dict[int, str] = {}

    def __len__(self) -> int:
        return len(self._items)

    @overload
    def __getitem__(self, index: int) -> str: ...

    @overload
    def __getitem__(self, index: slice) -> list[str]: ...

    def __getitem__(self, index: int | slice) -> str | list[str]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        position = range(len(self._items))[index]  # IndexError as a list raises it
        cursor = self._encoded.get(position)
        if cursor is None:
            cursor = self._encoded[position] = encode_cursor(*self._key(self._items[position]))
        return cursor

    def __iter__(self) -> Iterator[str]:
        encoded, items, key = self._encoded, self._items, self._key
        for position in range(len(items)):
            cursor = encoded.get(position)
            if cursor is None:
                cursor = encoded[position] = encode_cursor(*key(items[position]))
            yield cursor

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Sequence) and not isinstance(other, str):
            return list(self) == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # mutable cache; equal to lists, which are unhashable

    def __repr__(self) -> str:
        return f"LazyCursors({list(self)!r})"


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
