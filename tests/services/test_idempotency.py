"""Idempotency-Key on fakes (DESIGN §8.3): the claim decides (replay, 422, 409, take-over), keys are
per client, retryable outcomes free the key, lapsed claims and expired rows work as new, and
expired rows are purged by claims. The fingerprints and the HTTP shapes are the faces' (tests/api)."""

from __future__ import annotations

import asyncio

import pytest

from app.domain import idempotency as rules
from app.domain.errors import ResourceLocked
from app.domain.idempotency import (
    IdempotencyKeyInProgress,
    IdempotencyKeyReused,
    IdempotencyRecord,
    InvalidIdempotencyKey,
    StoredResponse,
)
from app.domain.models import ApiClientRecord, Principal
from app.services.idempotency import (
    Claimed,
    claim_key,
    complete,
    note_retryable_outcome,
    release,
    watching_outcome,
)
from tests.fakes import FakeStore, FakeUnitOfWorkFactory
from tests.services.factories import ORG_ID, Given, principal_of

TTL_MS = 86_400_000
CLAIM_MS = 60_000
OK = StoredResponse(status=200, content_type="application/json", body=b'{"data": {"x": 1}}')


@pytest.fixture
def clients(store: FakeStore, given: Given) -> tuple[Principal, Principal]:
    """Two API clients of the org: 1 (the default principal's) and 2."""
    for client_id in (1, 2):
        store.put_client(
            ApiClientRecord(
                id=client_id,
                org_id=ORG_ID,
                name=f"client-{client_id}",
                username=f"client-{client_id}",
                secret_hash="x",
                scopes=(),
                active=True,
            )
        )
    first = principal_of()
    return first, Principal(org_id=ORG_ID, client_id=2, username="client-2", scopes=first.scopes)


async def claim(
    uow_factory: FakeUnitOfWorkFactory,
    principal: Principal,
    key: str = "key-1",
    fingerprint: str = "fp-1",
    *,
    now: int,
) -> Claimed | StoredResponse:
    return await claim_key(
        uow_factory, principal, key, fingerprint, now=now, ttl_ms=TTL_MS, claim_ms=CLAIM_MS
    )


async def claimed(uow_factory: FakeUnitOfWorkFactory, principal: Principal, **kwargs: object) -> Claimed:
    outcome = await claim(uow_factory, principal, **kwargs)  # type: ignore[arg-type]
    assert isinstance(outcome, Claimed), outcome
    return outcome


# --- the key itself --------------------------------------------------------------------------------


@pytest.mark.parametrize("key", ["a", "x" * 255, " ~!", "0b6f2c1e-8d1a-4c1e-9a3e-2f6f0e4b7a51"])
def test_a_key_of_1_to_255_printable_ascii_characters_is_accepted_as_sent(key: str) -> None:
    assert rules.check_key(key.encode()) == key


@pytest.mark.parametrize("key", [b"", b"x" * 256, b"tab\tkey", b"caf\xc3\xa9", b"nul\x00", b"del\x7f"])
def test_an_empty_long_or_non_printable_key_is_refused_with_a_400(key: bytes) -> None:
    with pytest.raises(InvalidIdempotencyKey) as refused:
        rules.check_key(key)
    assert refused.value.status == 400
    assert "1 to 255 printable ASCII" in refused.value.message


def test_the_fingerprint_ignores_key_order_and_whitespace_but_not_values() -> None:
    assert rules.fingerprint({"a": 1, "b": [1, {"c": "d", "e": None}]}) == rules.fingerprint(
        {"b": [1, {"e": None, "c": "d"}], "a": 1}
    )
    assert rules.fingerprint({"a": 1}) != rules.fingerprint({"a": 2})
    assert rules.fingerprint({"a": [1, 2]}) != rules.fingerprint({"a": [2, 1]})


# --- claims ----------------------------------------------------------------------------------------


async def test_the_first_request_with_a_key_claims_it_in_one_committed_write(
    uow_factory: FakeUnitOfWorkFactory, store: FakeStore, clients: tuple[Principal, Principal], now: int
) -> None:
    # when
    outcome = await claimed(uow_factory, clients[0], now=now)
    # then
    assert [(r.write, r.committed) for r in uow_factory.opened] == [(True, True)]
    stored = store.tables.idempotency_keys[(1, "key-1")]
    assert stored == outcome.record
    assert (stored.fingerprint, stored.response) == ("fp-1", None)
    assert (stored.claimed_until, stored.expires_at) == (now + CLAIM_MS, now + TTL_MS)


async def test_a_repeat_after_completion_gets_the_stored_answer_and_writes_nothing(
    uow_factory: FakeUnitOfWorkFactory, store: FakeStore, clients: tuple[Principal, Principal], now: int
) -> None:
    # given
    first = await claimed(uow_factory, clients[0], now=now)
    assert await complete(uow_factory, first, OK)
    before = store.state()
    committed = len(uow_factory.committed)
    # when
    outcome = await claim(uow_factory, clients[0], now=now + 1000)
    # then
    assert outcome == OK
    assert store.state() == before
    assert len(uow_factory.committed) == committed


async def test_a_refusal_that_was_final_is_replayed_like_a_success(
    uow_factory: FakeUnitOfWorkFactory, clients: tuple[Principal, Principal], now: int
) -> None:
    # given a typed payload error in a 200 (PromotionNotFoundError): final, so stored
    body = b'{"data":{"x":{"__typename":"PromotionNotFoundError"}}}'
    refused = StoredResponse(200, "application/json", body)
    assert rules.is_final(refused.status, retryable=False)
    first = await claimed(uow_factory, clients[0], now=now)
    await complete(uow_factory, first, refused)
    # when / then
    assert await claim(uow_factory, clients[0], now=now + 1) == refused


async def test_the_same_key_with_another_request_is_refused_with_a_422_before_or_after_completion(
    uow_factory: FakeUnitOfWorkFactory, store: FakeStore, clients: tuple[Principal, Principal], now: int
) -> None:
    # given
    first = await claimed(uow_factory, clients[0], now=now)
    # when / then: while the first runs
    with pytest.raises(IdempotencyKeyReused) as running:
        await claim(uow_factory, clients[0], fingerprint="fp-2", now=now + 1)
    assert (running.value.status, running.value.code) == (422, "IDEMPOTENCY_KEY_REUSED")
    # and after it answered
    await complete(uow_factory, first, OK)
    before = store.state()
    with pytest.raises(IdempotencyKeyReused):
        await claim(uow_factory, clients[0], fingerprint="fp-2", now=now + 2)
    assert store.state() == before


async def test_the_same_request_while_the_first_runs_is_told_to_retry_with_a_409(
    uow_factory: FakeUnitOfWorkFactory, clients: tuple[Principal, Principal], now: int
) -> None:
    # given
    await claimed(uow_factory, clients[0], now=now)
    # when / then
    with pytest.raises(IdempotencyKeyInProgress) as running:
        await claim(uow_factory, clients[0], now=now + CLAIM_MS - 1)
    assert (running.value.status, running.value.code) == (409, "IDEMPOTENCY_KEY_IN_PROGRESS")
    assert running.value.retry_after_s >= 1


async def test_concurrent_claims_of_one_key_are_decided_by_the_unique_key_exactly_one_wins(
    uow_factory: FakeUnitOfWorkFactory, store: FakeStore, clients: tuple[Principal, Principal], now: int
) -> None:
    # given a second claim that commits just before the first does
    second: list[Claimed | StoredResponse] = []

    async def concurrent_claim() -> None:
        second.append(await claim(uow_factory, clients[0], now=now))

    uow_factory.before_next_commit(concurrent_claim)
    # when the first commits, its insert meets the second's row
    with pytest.raises(IdempotencyKeyInProgress):
        await claim(uow_factory, clients[0], now=now)
    # then the second holds the key, alone
    [winner] = second
    assert isinstance(winner, Claimed)
    assert store.tables.idempotency_keys[(1, "key-1")] == winner.record


async def test_keys_belong_to_their_client_the_same_key_of_another_client_is_a_new_request(
    uow_factory: FakeUnitOfWorkFactory, store: FakeStore, clients: tuple[Principal, Principal], now: int
) -> None:
    # given client 1's answered request
    first = await claimed(uow_factory, clients[0], now=now)
    await complete(uow_factory, first, OK)
    # when client 2 sends the same key, even with another request
    other = await claimed(uow_factory, clients[1], fingerprint="fp-2", now=now + 1)
    # then it is its own claim; client 1's answer is untouched
    assert other.record.client_id == 2
    assert store.tables.idempotency_keys[(1, "key-1")].response == OK
    assert store.tables.idempotency_keys[(2, "key-1")].response is None


# --- retryable outcomes, lapsed claims, retention ----------------------------------------------


async def test_a_released_key_executes_again_on_retry(
    uow_factory: FakeUnitOfWorkFactory, store: FakeStore, clients: tuple[Principal, Principal], now: int
) -> None:
    # given a request whose outcome was retryable (a 521)
    first = await claimed(uow_factory, clients[0], now=now)
    assert not rules.is_final(503, retryable=False)
    await release(uow_factory, first)
    assert store.tables.idempotency_keys == {}
    # when / then
    retry = await claimed(uow_factory, clients[0], now=now + 1)
    assert retry.record.claim != first.record.claim


@pytest.mark.parametrize(
    ("status", "retryable", "final"),
    [
        (200, False, True),
        (400, False, True),
        (404, False, True),
        (200, True, False),  # ResourceLockedError / InternalError in a GraphQL 200
        (429, False, False),
        (500, False, False),
        (503, False, False),  # REST's 521 and 1007
    ],
)
def test_only_answers_that_are_not_retryable_are_final(status: int, retryable: bool, final: bool) -> None:
    assert rules.is_final(status, retryable=retryable) is final


async def test_a_claim_whose_request_died_lapses_after_the_claim_window_and_is_taken_over_once(
    uow_factory: FakeUnitOfWorkFactory, store: FakeStore, clients: tuple[Principal, Principal], now: int
) -> None:
    # given a claim never completed (its process was killed)
    dead = await claimed(uow_factory, clients[0], now=now)
    # when the same request comes after the window
    retry = await claimed(uow_factory, clients[0], now=now + CLAIM_MS)
    # then it holds the key, and the dead request could no longer store or free it
    assert store.tables.idempotency_keys[(1, "key-1")] == retry.record
    assert not await complete(uow_factory, dead, OK)
    await release(uow_factory, dead)
    assert store.tables.idempotency_keys[(1, "key-1")] == retry.record


async def test_a_lapsed_claim_may_be_taken_by_another_request_too(
    uow_factory: FakeUnitOfWorkFactory, clients: tuple[Principal, Principal], now: int
) -> None:
    await claimed(uow_factory, clients[0], now=now)
    taken = await claimed(uow_factory, clients[0], fingerprint="fp-2", now=now + CLAIM_MS)
    assert taken.record.fingerprint == "fp-2"


async def test_a_key_past_its_retention_works_as_new(
    uow_factory: FakeUnitOfWorkFactory, store: FakeStore, clients: tuple[Principal, Principal], now: int
) -> None:
    # given an answered request
    first = await claimed(uow_factory, clients[0], now=now)
    await complete(uow_factory, first, OK)
    # when a different request comes with the key once the TTL has passed
    again = await claimed(uow_factory, clients[0], fingerprint="fp-2", now=now + TTL_MS)
    # then it is executed as new (no 422, no replay)
    assert store.tables.idempotency_keys[(1, "key-1")] == again.record


async def test_claims_purge_expired_rows_of_every_client_a_batch_at_a_time(
    uow_factory: FakeUnitOfWorkFactory, store: FakeStore, clients: tuple[Principal, Principal], now: int
) -> None:
    # given 150 answered keys of client 2, expired, and one still kept
    for n in range(150):
        store.put_idempotency_key(
            IdempotencyRecord(2, f"old-{n}", "fp", f"c{n}", now - TTL_MS, now - TTL_MS, now - n, OK)
        )
    store.put_idempotency_key(IdempotencyRecord(2, "kept", "fp", "ck", now, now, now + 1, OK))
    # when client 1 claims two keys
    await claimed(uow_factory, clients[0], key="new-1", now=now)
    assert len(store.tables.idempotency_keys) == 150 - 100 + 1 + 1
    await claimed(uow_factory, clients[0], key="new-2", now=now)
    # then every expired row is gone, the rest kept
    assert set(store.tables.idempotency_keys) == {(2, "kept"), (1, "new-1"), (1, "new-2")}


async def test_a_claim_the_database_cannot_decide_in_time_is_a_retryable_521_and_claims_nothing(
    uow_factory: FakeUnitOfWorkFactory, store: FakeStore, clients: tuple[Principal, Principal], now: int
) -> None:
    uow_factory.fail_with_lock()
    with pytest.raises(ResourceLocked):
        await claim(uow_factory, clients[0], now=now)
    assert store.tables.idempotency_keys == {}


# --- the watch on retryable outcomes -------------------------------------------------------------


async def test_a_retryable_outcome_noted_in_a_task_of_the_request_marks_the_watched_outcome() -> None:
    # given
    with watching_outcome() as outcome:
        # when a field resolves in a task of its own (as parallel GraphQL fields do)
        await asyncio.create_task(asyncio.to_thread(lambda: None))
        await asyncio.gather(asyncio.create_task(_note()))
    # then
    assert outcome.retryable
    with watching_outcome() as untouched:
        pass
    assert not untouched.retryable
    note_retryable_outcome()  # outside a keyed request: nothing to mark, no error


async def _note() -> None:
    note_retryable_outcome()
