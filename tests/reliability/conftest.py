"""The race tests' cluster: two uvicorn processes on one PostgreSQL (one process on SQLite, whose
file lock serialises writers anyway), shared by a module; an org per test, after which the whole
database must pass the invariant checker."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path

import pytest

from tests import support
from tests.reliability.harness import Org, assert_invariants_hold, new_org
from tests.support import is_postgres, server_process

SERVERS = 2 if is_postgres() else 1


@pytest.fixture(scope="module")
def cluster(
    test_databases: support.TestDatabases, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, list[str]]]:
    database_url = test_databases.fresh_url(Path(tmp_path_factory.mktemp("races")))
    with ExitStack() as stack, ThreadPoolExecutor(SERVERS) as pool:
        booting = [pool.submit(stack.enter_context, server_process(database_url)) for _ in range(SERVERS)]
        yield database_url, [future.result().url for future in booting]


@pytest.fixture
async def org(cluster: tuple[str, list[str]]) -> AsyncIterator[Org]:
    made = await new_org(*cluster)
    yield made
    await made.close()
    # every test leaves the whole shared database consistent
    await assert_invariants_hold(cluster[0])
