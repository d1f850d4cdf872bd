"""Text a database can store: one guard for every face and every input path.

PostgreSQL refuses NUL in text and an unpaired UTF-16 surrogate cannot be encoded as UTF-8, so
either would reach the driver and come back as a server error; SQLite would store what the other
database refuses. Both faces call `has_unstorable_text` on everything they receive (GraphQL
variables and literals, REST bodies, query strings and path parameters) and refuse it with
`UNSTORABLE_TEXT_MESSAGE` as a client error, so no such text reaches a service."""

from __future__ import annotations

import re
from typing import Any

_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")

UNSTORABLE_TEXT_MESSAGE = "text must not contain NUL characters (\\u0000) or unpaired UTF-16 surrogates"


def is_storable(value: str) -> bool:
    return _UNSTORABLE.search(value) is None


def has_unstorable_text(value: Any) -> bool:
    """Whether any string in `value` (nested in dicts, their keys and lists included) is not storable."""
    if isinstance(value, str):
        return _UNSTORABLE.search(value) is not None
    if isinstance(value, dict):
        return any(has_unstorable_text(k) or has_unstorable_text(v) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return any(has_unstorable_text(item) for item in value)
    return False
