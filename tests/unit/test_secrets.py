"""Client secrets: the production scrypt cost, and the tests' cheap hashes in the same format."""

from __future__ import annotations

from app.auth.secrets import hash_secret, verify_secret
from tests.support import cheap_secret_hash


def test_a_secret_is_hashed_at_the_production_scrypt_cost() -> None:
    scheme, n, r, p, _salt, _digest = hash_secret("s3cret").split("$")
    assert (scheme, n, r, p) == ("scrypt", str(2**14), "8", "1")


def test_a_hashed_secret_verifies_and_another_does_not() -> None:
    stored = hash_secret("s3cret")
    assert verify_secret("s3cret", stored)
    assert not verify_secret("s3cret!", stored)


def test_the_tests_cheap_hash_is_the_stored_format_at_a_low_cost() -> None:
    stored = cheap_secret_hash("s3cret")
    assert stored.split("$")[:4] == ["scrypt", "16", "8", "1"]
    assert verify_secret("s3cret", stored)
    assert not verify_secret("s3cret!", stored)
