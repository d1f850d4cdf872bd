"""The write path's hot statements, run straight on the unit of work's driver connection.

A statement executed through the session costs SQLAlchemy's whole execution on every call, even
when its compiled form is cached: the ORM session's execute, the cache key of the statement, an
execution context, a cursor, the result and its rows. For the few statements every redemption
runs inside its wallet lock that was several times what the database took to run them. A
`DirectStatement` is compiled once per dialect, and run in the same transaction on the
connection the session holds: asyncpg's own prepared statements, or `sqlite3` on the event
loop's thread (sqlite_driver.InlineConnection). What stays SQLAlchemy's: the SQL, the type
processing of the columns, the wrapping of the driver's errors (the unit of work maps
IntegrityError and lock errors as for any statement), and `before_cursor_execute` listeners,
which still see every statement (the statement-count tests count these too).

Anything else (a read without a snapshot, a bulk unit of work on aiosqlite's thread) runs the
same statement through the session.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NoReturn

from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.sql import Executable
from sqlalchemy.sql.selectable import SelectBase

from app.persistence.sqlite_driver import InlineConnection

_KEY = "direct_driver"


class DirectRow(tuple[Any, ...]):
    """A result row: a tuple (by position, at the speed of one), by column name as an attribute,
    or through `_mapping` (what the repositories' row mappers read of SQLAlchemy's Row). Each
    compiled statement has its own subclass, whose `_index` names its columns."""

    __slots__ = ()
    _index: dict[str, int] = {}

    def __getattr__(self, name: str) -> Any:
        try:
            return self[self._index[name]]
        except KeyError:
            raise AttributeError(name) from None

    @property
    def _mapping(self) -> dict[str, Any]:
        return dict(zip(self._index, self, strict=True))


def _row_class(keys: tuple[str, ...]) -> type[DirectRow]:
    index = {key: position for position, key in enumerate(keys)}
    return type("DirectRow", (DirectRow,), {"__slots__": (), "_index": index})


@dataclass
class _Compiled:
    sql: str
    names: tuple[str, ...]  # the bound parameters, in the driver's positional order
    binds: tuple[Callable[[Any], Any] | None, ...]
    defaults: dict[str, Any]  # the statement's own values (literals SQLAlchemy binds, as in coalesce(x, 0))
    keys: tuple[str, ...]  # the result's columns
    results: tuple[Callable[[Any], Any] | None, ...]
    row_class: type[DirectRow] = field(init=False)
    processed: tuple[tuple[int, Callable[[Any], Any]], ...] = field(init=False)  # the results to process

    def __post_init__(self) -> None:
        self.row_class = _row_class(self.keys)
        self.processed = tuple((n, result) for n, result in enumerate(self.results) if result is not None)

    def arguments(self, parameters: Mapping[str, Any]) -> tuple[Any, ...]:
        if self.defaults:
            parameters = {**self.defaults, **parameters}
        return tuple(
            parameters[name] if bind is None else bind(parameters[name])
            for name, bind in zip(self.names, self.binds, strict=True)
        )

    def rows(self, found: Sequence[Sequence[Any]]) -> list[DirectRow]:
        """The driver's rows, each column through its type's result processor where it has one
        (most have none: the values are used as the driver returns them)."""
        make, processed = self.row_class, self.processed
        if not processed:
            return [make(values) for values in found]
        made = []
        for values in found:
            row = list(values)
            for position, result in processed:
                row[position] = result(row[position])
            made.append(make(row))
        return made


class DirectStatement:
    """A statement built once, with bound parameters only (no expanding IN lists: their SQL
    depends on the values), compiled once per dialect."""

    def __init__(self, statement: Executable) -> None:
        self.statement = statement
        self._compiled: dict[str, _Compiled] = {}
        columns = list(statement.selected_columns) if isinstance(statement, SelectBase) else []
        self.keys: tuple[str, ...] = tuple(column.name for column in columns)  # the result's columns

    def compiled(self, dialect: Dialect) -> _Compiled:
        found = self._compiled.get(dialect.name)
        if found is None:
            compiled: Any = self.statement.compile(dialect=dialect)  # type: ignore[attr-defined]
            names = tuple(compiled.positiontup or ())
            binds = tuple(compiled.binds[name].type._cached_bind_processor(dialect) for name in names)
            columns = list(self.statement.selected_columns) if isinstance(self.statement, SelectBase) else []
            found = _Compiled(
                sql=compiled.string,
                names=names,
                binds=binds,
                defaults={
                    name: bind.value
                    for name, bind in compiled.binds.items()
                    if not bind.required and bind.value is not None
                },
                keys=self.keys,
                results=tuple(column.type._cached_result_processor(dialect, None) for column in columns),
            )
            self._compiled[dialect.name] = found
        return found


@dataclass(frozen=True)
class _Driver:
    transaction: Any  # the session's transaction this was found in
    connection: Connection
    dbapi: Any  # the dialect's adapter of the asyncpg connection or of an InlineConnection
    postgres: bool


async def _driver(session: Any) -> _Driver | None:
    """The driver connection of the session's transaction, or None where statements run
    through SQLAlchemy (a read without a snapshot, an aiosqlite connection)."""
    sync_session = getattr(session, "sync_session", None)
    if sync_session is None:
        return None
    found: _Driver | None = session.info.get(_KEY)
    transaction = sync_session.get_transaction()
    if found is not None and transaction is not None and found.transaction is transaction:
        return found
    connection = (await session.connection()).sync_connection
    dbapi = connection.connection.dbapi_connection
    postgres = connection.dialect.name == "postgresql"
    if not postgres and not isinstance(dbapi.driver_connection, InlineConnection):
        return None
    if postgres and dbapi._transaction is None:
        # A read unit of work's transaction, which the dialect begins with its first statement:
        # this one goes through the session so that it runs inside it.
        return None
    found = _Driver(sync_session.get_transaction(), connection, dbapi, postgres)
    session.info[_KEY] = found
    return found


def _announce(driver: _Driver, sql: str, arguments: Any, many: bool) -> None:
    listeners = driver.connection.dispatch.before_cursor_execute
    if listeners:
        listeners(driver.connection, None, sql, arguments, None, many)


def _raise_wrapped(driver: _Driver, sql: str, arguments: Any, error: Exception) -> NoReturn:
    """The driver's error as SQLAlchemy raises it from a statement (IntegrityError,
    OperationalError... with `.orig`)."""
    dialect = driver.connection.dialect
    translated: Exception = error
    if driver.postgres:
        try:
            driver.dbapi._handle_exception(error)  # raises it as the dialect's DBAPI error
        except Exception as dbapi_error:
            translated = dbapi_error
    base = dialect.loaded_dbapi.Error
    if not isinstance(translated, base):
        raise error
    invalidated = dialect.is_disconnect(translated, driver.dbapi, None)
    raise DBAPIError.instance(
        sql, arguments, translated, base, connection_invalidated=invalidated, dialect=dialect
    ) from error


async def rows(session: AsyncSession, statement: DirectStatement, parameters: Mapping[str, Any]) -> list[Any]:
    """The statement's rows."""
    reads = getattr(session, "direct_rows", None)  # a read without a snapshot (uow.StatementReads)
    if reads is not None:
        found: list[Any] = await reads(statement, parameters)
        return found
    driver = await _driver(session)
    if driver is None:
        return list((await session.execute(statement.statement, parameters)).all())
    return await _rows(driver, statement, parameters)


async def connection_rows(
    connection: AsyncConnection, statement: DirectStatement, parameters: Mapping[str, Any]
) -> list[Any]:
    """The statement's rows, on a connection outside any session (a read without a snapshot)."""
    sync = connection.sync_connection
    assert sync is not None, "a connection that has been connected"
    dbapi = sync.connection.dbapi_connection
    postgres = sync.dialect.name == "postgresql"
    if not postgres and not isinstance(getattr(dbapi, "driver_connection", None), InlineConnection):
        return list((await connection.execute(statement.statement, parameters)).all())
    return await _rows(_Driver(None, sync, dbapi, postgres), statement, parameters)


async def _rows(driver: _Driver, statement: DirectStatement, parameters: Mapping[str, Any]) -> list[Any]:
    compiled = statement.compiled(driver.connection.dialect)
    arguments = compiled.arguments(parameters)
    _announce(driver, compiled.sql, arguments, False)
    try:
        if driver.postgres:
            found = await driver.dbapi.driver_connection.fetch(compiled.sql, *arguments)
        else:
            found = _sqlite(driver).execute(compiled.sql, arguments).fetchall()
    except Exception as error:
        _raise_wrapped(driver, compiled.sql, arguments, error)
    return compiled.rows(found)


async def rowcount(session: AsyncSession, statement: DirectStatement, parameters: Mapping[str, Any]) -> int:
    """How many rows the statement (an UPDATE, DELETE or INSERT) changed."""
    driver = await _driver(session)
    if driver is None:
        result = await session.execute(statement.statement, parameters)
        return int(result.rowcount)  # type: ignore[attr-defined]
    compiled = statement.compiled(driver.connection.dialect)
    arguments = compiled.arguments(parameters)
    _announce(driver, compiled.sql, arguments, False)
    try:
        if driver.postgres:
            status = await driver.dbapi.driver_connection.execute(compiled.sql, *arguments)
            return int(status.rsplit(" ", 1)[-1])
        return int(_sqlite(driver).execute(compiled.sql, arguments).rowcount)
    except Exception as error:
        _raise_wrapped(driver, compiled.sql, arguments, error)


async def execute_many(
    session: AsyncSession, statement: DirectStatement, parameters: Sequence[Mapping[str, Any]]
) -> None:
    """The statement once per parameter set (asyncpg sends them in one round trip)."""
    if not parameters:
        return
    driver = await _driver(session)
    if driver is None:
        await session.execute(statement.statement, list(parameters))
        return
    compiled = statement.compiled(driver.connection.dialect)
    arguments = [compiled.arguments(one) for one in parameters]
    many = len(arguments) > 1
    _announce(driver, compiled.sql, arguments if many else arguments[0], many)
    try:
        if driver.postgres:
            await driver.dbapi.driver_connection.executemany(compiled.sql, arguments)
        else:
            _sqlite(driver).executemany(compiled.sql, arguments)
    except Exception as error:
        _raise_wrapped(driver, compiled.sql, arguments, error)


def _sqlite(driver: _Driver) -> sqlite3.Connection:
    connection: sqlite3.Connection = driver.dbapi.driver_connection.sqlite3_connection
    return connection
