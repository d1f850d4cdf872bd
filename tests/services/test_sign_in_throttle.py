"""The authenticator's sign-in throttle and dummy-hash check over the fake unit of work and the
in-process window counter: no database, no HTTP, no real scrypt (a plain-text stand-in)."""

from __future__ import annotations

import asyncio

import pytest

import app.auth.authenticator as authenticator_module
import app.auth.throttle as throttle_module
from app.auth.authenticator import AuthenticationFailed, Authenticator, TooManyFailures
from app.auth.throttle import SignInThrottle
from app.domain.clock import now_ms
from app.domain.models import ApiClientRecord
from tests.fakes import FakeStore, FakeUnitOfWorkFactory, FakeWindowCounter
from tests.services.factories import ORG_ID

ADDRESS = "203.0.113.7"
WINDOW_S = 300
checked: list[str] = []


@pytest.fixture(autouse=True)
def plain_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    checked.clear()

    def verify(secret: str, stored: str) -> bool:
        checked.append(stored)
        return stored == f"plain:{secret}"

    monkeypatch.setattr(authenticator_module, "verify_secret", verify)
    monkeypatch.setattr(authenticator_module, "_dummy_hash", lambda: "dummy")


@pytest.fixture
def authenticator(store: FakeStore, uow_factory: FakeUnitOfWorkFactory) -> Authenticator:
    store.put_client(
        ApiClientRecord(id=1, org_id=ORG_ID, name="pos", username="pos", secret_hash="plain:right",
                        scopes=("wallet:read",), active=True)
    )  # fmt: skip
    throttle = SignInThrottle(
        FakeWindowCounter(), max_failures=3, max_failures_per_address=5, window_seconds=WINDOW_S
    )
    return Authenticator(uow_factory, cache_seconds=60, token_ttl_seconds=60, throttle=throttle)


async def _fails(authenticator: Authenticator, username: str, password: str, address: str = ADDRESS) -> type:
    try:
        await authenticator.verify_client(username, password, address=address)
    except AuthenticationFailed as refused:
        return type(refused)
    return type(None)


async def test_an_unknown_username_is_checked_against_a_dummy_hash(authenticator: Authenticator) -> None:
    assert await _fails(authenticator, "nobody", "x") is AuthenticationFailed
    assert await _fails(authenticator, "pos", "x") is AuthenticationFailed
    assert checked == ["dummy", "plain:right"]


async def test_past_the_failures_of_a_username_even_the_right_secret_is_throttled_unchecked(
    authenticator: Authenticator,
) -> None:
    for _ in range(3):
        assert await _fails(authenticator, "pos", "wrong") is AuthenticationFailed
    checked.clear()
    assert await _fails(authenticator, "pos", "right") is TooManyFailures
    assert checked == []  # no scrypt spent on a throttled sign-in
    # another address is throttled too: the count is the username's
    assert await _fails(authenticator, "pos", "right", address="198.51.100.1") is TooManyFailures


async def test_the_window_ending_lets_the_owner_in(
    authenticator: Authenticator, monkeypatch: pytest.MonkeyPatch
) -> None:
    for _ in range(4):
        await _fails(authenticator, "pos", "wrong")
    later = now_ms() + WINDOW_S * 1000
    monkeypatch.setattr(throttle_module, "now_ms", lambda: later)
    assert await _fails(authenticator, "pos", "right") is type(None)


async def test_a_success_takes_its_attempt_back(authenticator: Authenticator) -> None:
    # the owner's own sign-ins (the cache emptied, as at its expiry) between failures never add up
    for _ in range(2):
        await _fails(authenticator, "pos", "wrong")
    authenticator._verified.clear()
    assert await _fails(authenticator, "pos", "right") is type(None)
    authenticator._verified.clear()
    assert await _fails(authenticator, "pos", "right") is type(None)
    assert await _fails(authenticator, "pos", "wrong") is AuthenticationFailed  # the 3rd failure


async def test_one_address_is_throttled_across_usernames(authenticator: Authenticator) -> None:
    outcomes = [await _fails(authenticator, f"user-{i}", "x") for i in range(6)]
    assert outcomes == [AuthenticationFailed] * 5 + [TooManyFailures]


async def test_concurrent_guesses_are_counted_before_any_is_checked(authenticator: Authenticator) -> None:
    outcomes = await asyncio.gather(*(_fails(authenticator, "pos", f"guess-{i}") for i in range(8)))
    assert sorted(o.__name__ for o in outcomes) == ["AuthenticationFailed"] * 3 + ["TooManyFailures"] * 5


async def test_without_an_address_nothing_is_counted_or_throttled(authenticator: Authenticator) -> None:
    for _ in range(5):
        with pytest.raises(AuthenticationFailed):
            await authenticator.verify_client("pos", "wrong")
    assert await _fails(authenticator, "pos", "right") is type(None)
