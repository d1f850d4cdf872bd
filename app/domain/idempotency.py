"""Idempotency keys (DESIGN §8.3, the IETF httpapi Idempotency-Key draft, Stripe's rules): what a
key may be, what makes two requests "the same", and what a repeat is answered.

A key belongs to one API client. The first request with it claims it (a stored row, unique per
client and key: the database decides a race, never a process); its final answer is stored with
the request's fingerprint and replayed byte for byte to a repeat with the same fingerprint. A
claim whose request is still running refuses repeats with 409; one whose request died (process
killed) lapses after the claim window, and a stored answer after the retention (TTL). Both faces
(GraphQL, REST) share these rules through services/idempotency.py and one ASGI middleware.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any, ClassVar

MAX_KEY_LENGTH = 255
# The header's name and the replay marker, as the draft names them.
KEY_HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
# Seconds a repeat of a running request is told to wait: requests are short, a poll a second is
# cheap, and the claim window (not this) bounds how long a dead request's key stays taken.
IN_PROGRESS_RETRY_AFTER_S = 1


class IdempotencyRefusal(Exception):
    """A keyed request that is refused before anything runs; each face renders `code` (a string,
    as GraphQL's `extensions.code`) with the HTTP `status`."""

    code: ClassVar[str]
    status: ClassVar[int]

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidIdempotencyKey(IdempotencyRefusal):
    code = "IDEMPOTENCY_KEY_INVALID"
    status = 400


class IdempotencyKeyReused(IdempotencyRefusal):
    code = "IDEMPOTENCY_KEY_REUSED"
    status = 422


class IdempotencyKeyInProgress(IdempotencyRefusal):
    code = "IDEMPOTENCY_KEY_IN_PROGRESS"
    status = 409

    def __init__(self, message: str, retry_after_s: int = IN_PROGRESS_RETRY_AFTER_S) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


def check_key(value: bytes | str) -> str:
    """1 to 255 printable ASCII characters (space to tilde), as sent: no trimming, no folding."""
    raw = value.encode() if isinstance(value, str) else value
    if not 1 <= len(raw) <= MAX_KEY_LENGTH or any(not 0x20 <= byte <= 0x7E for byte in raw):
        raise InvalidIdempotencyKey(
            f"{KEY_HEADER} must be 1 to {MAX_KEY_LENGTH} printable ASCII characters (space to '~')"
        )
    return raw.decode("ascii")


def canonical_json(value: Any) -> str:
    """One text per JSON value: keys sorted, no whitespace, so that key order and formatting of
    a body never make two equal requests differ. (A number too large for a float is Infinity.)"""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def fingerprint(parts: Any) -> str:
    """SHA-256 of the canonical JSON of what identifies a request (each face says what that is)."""
    return hashlib.sha256(canonical_json(parts).encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class StoredResponse:
    status: int
    content_type: str
    body: bytes


@dataclass(frozen=True, slots=True)
class IdempotencyRecord:
    """One claimed key. `claim` names the request that holds (or held) it, so that only that
    request completes or frees it, and a lapsed claim is taken over exactly once. `response` is
    None while the request runs, until `claimed_until`; the row is kept until `expires_at`."""

    client_id: int
    key: str
    fingerprint: str
    claim: str
    created_at: int
    claimed_until: int
    expires_at: int
    response: StoredResponse | None = None


def new_claim(
    client_id: int, key: str, fingerprint_: str, claim: str, *, now: int, ttl_ms: int, claim_ms: int
) -> IdempotencyRecord:
    return IdempotencyRecord(
        client_id=client_id,
        key=key,
        fingerprint=fingerprint_,
        claim=claim,
        created_at=now,
        claimed_until=now + claim_ms,
        # Never purged while its request may still be running, whatever the two settings are.
        expires_at=now + max(ttl_ms, claim_ms),
    )


def is_lapsed(record: IdempotencyRecord, now: int) -> bool:
    """Past its retention, or a claim whose request never answered within the claim window (the
    process died): the key is free, as if never used."""
    return record.expires_at <= now or (record.response is None and record.claimed_until <= now)


def answer_to_repeat(record: IdempotencyRecord, fingerprint_: str, now: int) -> StoredResponse | None:
    """What a request with a taken key gets: the stored response (a replay), or None when the
    key has lapsed and may be claimed anew. Another request under the key → 422, whether or not
    the first has finished (it can never succeed under this key); the same one still running → 409."""
    if is_lapsed(record, now):
        return None
    if record.fingerprint != fingerprint_:
        raise IdempotencyKeyReused(
            f"This {KEY_HEADER} was used for a different request; use a new key for a new request"
        )
    if record.response is None:
        raise IdempotencyKeyInProgress(
            f"A request with this {KEY_HEADER} is still being processed; retry after a moment"
        )
    return record.response


def is_final(status: int, *, retryable: bool) -> bool:
    """Whether an answer is stored for replay. Retryable outcomes are not (a 5xx — the 521 as
    REST's 503 included —, a 429, or a GraphQL payload error marked retryable such as
    ResourceLockedError or InternalError): the key is freed so that a retry executes. A typed
    refusal (a 200 with PromotionNotFoundError, a REST 404) is final, and is replayed."""
    return not retryable and status != 429 and status < 500
