"""Keyset cursors: an opaque base64 of the sort key of the last row seen."""

from __future__ import annotations

import base64
import json
from typing import Any

from app.domain.errors import InvalidRequest


def encode_cursor(*key: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(key), separators=(",", ":")).encode()).decode()


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
        raise InvalidRequest("after is not a cursor returned by this list", field="after") from exc


def check_page_size(first: int, maximum: int) -> None:
    if first < 0 or first > maximum:
        raise InvalidRequest(f"first must be between 0 and {maximum}", field="first")
