"""Identifiers: 24 lowercase hex characters, like the spec system's ids.

The first 8 characters are the creation second, so ids sort roughly by creation time and
keyset pagination over them follows insertion order.
"""

from __future__ import annotations

import re
import secrets
import time

OBJECT_ID_PATTERN = re.compile(r"^[0-9a-f]{24}$")
MAX_LONG = 2**63 - 1


def new_object_id(now_ms: int | None = None) -> str:
    seconds = (now_ms // 1000) if now_ms is not None else int(time.time())
    return f"{seconds & 0xFFFFFFFF:08x}{secrets.token_hex(8)}"


def new_object_ids(count: int, now_ms: int | None = None) -> list[str]:
    seconds = (now_ms // 1000) if now_ms is not None else int(time.time())
    prefix = f"{seconds & 0xFFFFFFFF:08x}"
    # One urandom call for the whole batch: 100k ids stay cheap.
    raw = secrets.token_bytes(8 * count).hex()
    return [prefix + raw[i * 16 : (i + 1) * 16] for i in range(count)]


def is_object_id(value: str) -> bool:
    return bool(OBJECT_ID_PATTERN.match(value))


def is_valid_customer_id(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value <= MAX_LONG
