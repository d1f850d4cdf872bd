"""Text a database can store: one guard for every face and every input path.

PostgreSQL refuses NUL in text and an unpaired UTF-16 surrogate cannot be encoded as UTF-8, so
either would reach the driver and come back as a server error; SQLite would store what the other
database refuses. Both faces call `has_unstorable_text` on everything they receive (GraphQL
variables and literals, REST bodies, query strings and path parameters) and refuse it with
`UNSTORABLE_TEXT_MESSAGE` as a client error, so no such text reaches a service."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import unquote_to_bytes

_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")

UNSTORABLE_TEXT_MESSAGE = "text must not contain NUL characters (\\u0000) or unpaired UTF-16 surrogates"


# Numbers as text: ASCII digits only. `Decimal()` and `int()` also read Arabic-Indic, Devanagari
# and other Unicode digits ("١٢٣" is 123), which no client of this API means to send.
_DECIMAL_TEXT = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_INTEGER_TEXT = re.compile(r"-?[0-9]+")


def is_decimal_text(value: str) -> bool:
    return _DECIMAL_TEXT.fullmatch(value) is not None


def is_integer_text(value: str) -> bool:
    return _INTEGER_TEXT.fullmatch(value) is not None


def is_utf8_url_part(raw: bytes) -> bool:
    """Whether a percent-encoded path or query string decodes as UTF-8. Frameworks decode it with
    U+FFFD for what is not, which would store text the client never sent."""
    try:
        unquote_to_bytes(raw).decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def is_storable(value: str) -> bool:
    return _UNSTORABLE.search(value) is None


def json_may_spell_unstorable_text(raw: bytes) -> bool:
    """Whether JSON text, as UTF-8 bytes, could decode to a string `has_unstorable_text` refuses.
    JSON spells NUL or a lone surrogate only as a `\\u` escape: a raw control character is
    invalid JSON, and strict UTF-8 decoding refuses encoded surrogates. So bytes without `\\u`
    cannot, and a walk over what they decode to can be skipped."""
    return b"\\u" in raw


def has_unstorable_text(value: Any) -> bool:
    """Whether any string in `value` (nested in dicts, their keys and lists included) is not storable."""
    if isinstance(value, str):
        return _UNSTORABLE.search(value) is not None
    if isinstance(value, dict):
        return any(has_unstorable_text(k) or has_unstorable_text(v) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return any(has_unstorable_text(item) for item in value)
    return False
