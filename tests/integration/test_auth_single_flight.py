"""A Basic credential is checked with scrypt once, however many requests bring it at once."""

from __future__ import annotations

import asyncio

import pytest

from app.auth import authenticator as module
from app.auth.authenticator import AuthenticationFailed, Authenticator
from app.persistence.database import Database
from app.persistence.uow import SqlUnitOfWorkFactory
from app.services import admin

ORG_ID = 4242
SECRET = "s3cret-s3cret"


async def given_client(database: Database) -> Authenticator:
    """A client "till" (secret SECRET), and an authenticator with a cold cache."""
    await admin.create_org(SqlUnitOfWorkFactory(database), org_id=ORG_ID, name="Auth")
    await admin.create_client(
        SqlUnitOfWorkFactory(database),
        org_id=ORG_ID,
        name="till",
        scopes=["wallet:write"],
        username="till",
        password=SECRET,
    )
    return Authenticator(SqlUnitOfWorkFactory(database), cache_seconds=60, token_ttl_seconds=60)


@pytest.fixture
def scrypt_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    calls: list[str] = []
    verify = module.verify_secret

    def counting(secret: str, stored: str) -> bool:
        calls.append(secret)
        return verify(secret, stored)

    monkeypatch.setattr(module, "verify_secret", counting)
    return calls


async def test_concurrent_requests_with_one_credential_share_one_scrypt_check(
    database: Database, scrypt_calls: list[str]
) -> None:
    # given a client and a cold cache
    authenticator = await given_client(database)
    # when twelve requests bring the right secret at once
    principals = await asyncio.gather(*(authenticator.verify_client("till", SECRET) for _ in range(12)))
    # then all are let in, on one scrypt check
    assert {(p.org_id, p.username) for p in principals} == {(ORG_ID, "till")}
    assert scrypt_calls == [SECRET]
    # when six bring a wrong one at once
    refused = await asyncio.gather(
        *(authenticator.verify_client("till", "wrong") for _ in range(6)), return_exceptions=True
    )
    # then all are refused, on one more check, and the right secret is still served from the cache
    assert all(isinstance(r, AuthenticationFailed) for r in refused)
    assert scrypt_calls == [SECRET, "wrong"]
    await authenticator.verify_client("till", SECRET)
    assert len(scrypt_calls) == 2


async def test_a_caller_that_goes_away_does_not_cancel_the_check_others_wait_for(
    database: Database, scrypt_calls: list[str]
) -> None:
    # given a client, and two requests checking its secret at once
    authenticator = await given_client(database)
    leaving = asyncio.create_task(authenticator.verify_client("till", SECRET))
    staying = asyncio.create_task(authenticator.verify_client("till", SECRET))
    await asyncio.sleep(0)
    # when the first is cancelled (its client disconnected)
    leaving.cancel()
    # then the second is still let in, on the one check
    assert (await staying).username == "till"
    assert scrypt_calls == [SECRET]
