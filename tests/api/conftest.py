"""Fixtures of the wallet-mutation modules (redeem, revoke)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from tests import support
from tests.support import live_server
from tests.wallet_world import World, close_world, make_world


@pytest.fixture(scope="module")
def wallet_server(
    test_databases: support.TestDatabases, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, str]]:
    """One live server per module that asks for it: (database URL, base URL)."""
    database_url = test_databases.fresh_url(Path(tmp_path_factory.mktemp("wallet")))
    with live_server(database_url) as base_url:
        yield database_url, base_url


@pytest.fixture
async def world(wallet_server: tuple[str, str]) -> AsyncIterator[World]:
    made = await make_world(*wallet_server)
    yield made
    await close_world(made)
