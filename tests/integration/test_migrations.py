"""The Alembic migrations build exactly the schema the code declares, on SQLite and PostgreSQL,
and can be taken back down to nothing."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from app.persistence.migrate import alembic_config, upgrade
from app.persistence.tables import metadata
from tests.support import TEST_DATABASE_URL, _asyncpg_dsn, _with_database, is_postgres


async def _pg_admin(statement: str) -> None:
    connection = await asyncpg.connect(_asyncpg_dsn(TEST_DATABASE_URL))
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


@pytest.fixture
def empty_database_url(tmp_path: Path) -> Iterator[str]:
    """A database with nothing in it: a new SQLite file, or a new PostgreSQL database."""
    if not is_postgres():
        yield f"sqlite+aiosqlite:///{tmp_path / 'fresh' / 'migrations.db'}"
        return
    name = f"pw_migrations_{uuid.uuid4().hex[:10]}"
    asyncio.run(_pg_admin(f'CREATE DATABASE "{name}"'))
    try:
        yield _with_database(TEST_DATABASE_URL, name)
    finally:
        asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def _inspect(url: str, how: Any) -> Any:
    async def run() -> Any:
        engine = create_async_engine(url)
        try:
            async with engine.connect() as connection:
                return await connection.run_sync(how)
        finally:
            await engine.dispose()

    return asyncio.run(run())


def _differences(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return compare_metadata(context, metadata)  # type: ignore[no-any-return]


def _tables(connection: Connection) -> set[str]:
    return set(inspect(connection).get_table_names())


def test_upgrade_head_on_an_empty_database_matches_the_declared_tables(empty_database_url: str) -> None:
    # given an empty database
    # when it is migrated to head
    upgrade(empty_database_url)
    # then alembic finds nothing to add, drop or alter against app.persistence.tables.metadata
    assert _inspect(empty_database_url, _differences) == []
    assert _inspect(empty_database_url, _tables) == set(metadata.tables) | {"alembic_version"}


def test_upgrade_is_a_no_op_when_already_at_head(empty_database_url: str) -> None:
    # given a migrated database
    upgrade(empty_database_url)
    # when it is migrated again (serve migrates on every start)
    upgrade(empty_database_url)
    # then nothing changed
    assert _inspect(empty_database_url, _differences) == []


def test_downgrade_to_base_removes_every_table_and_upgrade_rebuilds_them(empty_database_url: str) -> None:
    # given a migrated database
    upgrade(empty_database_url)
    # when it is downgraded to base
    command.downgrade(alembic_config(empty_database_url), "base")
    # then only alembic's own table is left
    assert _inspect(empty_database_url, _tables) == {"alembic_version"}
    # and upgrading again rebuilds the same schema
    upgrade(empty_database_url)
    assert _inspect(empty_database_url, _differences) == []
